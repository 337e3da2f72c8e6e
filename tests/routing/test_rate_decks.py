"""Rate decks through PostgreSQL at the scale design: the loader's arrays (computed by the
database) answer as the engine's own build from the same rows, and a rate edit reaches the
table by a patch that re-reads that prefix only: not the rules, not the other decks."""

from __future__ import annotations

import datetime
import logging
import random
from decimal import Decimal

from routing.engine.rates import DeckRates, RateRow, find_rate
from routing.loader import build_from_database, update_from_database
from routing.models import Changes, Rate, RateDeck, bump_routing_version

START = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
NOW = datetime.datetime(2026, 11, 26, 12, tzinfo=datetime.UTC)
DAY = datetime.timedelta(days=1)
FIELDS = ("prefix", "rate", "effective_from", "effective_until", "connect_fee",
          "initial_increment", "next_increment")  # fmt: skip


def decks(routing_data):  # type: ignore[no-untyped-def]
    alpha = RateDeck.objects.create(name="Alpha buy", carrier=routing_data.alpha)
    beta = RateDeck.objects.create(name="Beta buy", carrier=routing_data.beta)
    return alpha, beta


def rows_of(deck: RateDeck) -> list[RateRow]:
    return [RateRow(*values) for values in Rate.objects.filter(deck=deck).values_list(*FIELDS)]


def reference_terms(deck: RateDeck) -> list[tuple]:  # type: ignore[type-arg]
    return [row[1:] for row in rows_of(deck)]  # (those of 18-20 digit prefixes too)


def test_the_databases_arrays_answer_as_the_engines_build(routing_data):
    alpha, _ = decks(routing_data)
    rng = random.Random(7)
    rates = {}
    for _ in range(3000):
        prefix = "".join(rng.choice("0123") for _ in range(rng.randint(0, 6)))
        start = START + DAY * rng.randint(0, 400)
        until = None if rng.random() < 0.7 else start + DAY * rng.randint(1, 60)
        rates[(prefix, start)] = Rate(
            deck=alpha, prefix=prefix, rate=Decimal(rng.randint(0, 5000)) / 10000,
            effective_from=start, effective_until=until,
            connect_fee=Decimal(rng.randint(0, 3)) / 100,
            initial_increment=rng.choice((1, 30, 60)), next_increment=rng.choice((1, 6, 60)),
        )  # fmt: skip
    Rate.objects.bulk_create(rates.values())
    Rate.objects.create(deck=alpha, prefix="123123123123123123", rate=Decimal("0.9"),
                        effective_from=START)  # 18 digits  # fmt: skip
    bump_routing_version()
    table = build_from_database()
    loaded = table.carrier_decks[routing_data.alpha.pk]
    assert loaded.count == len(rates) + 1
    assert len(loaded.rates.palette) == len(set(reference_terms(alpha)))
    reference = DeckRates.from_rows(rows_of(alpha))
    assert list(loaded.rates.keys) == list(reference.keys)
    numbers = ["".join(rng.choice("01234") for _ in range(rng.randint(0, 9))) for _ in range(2000)]
    numbers += ["1231231231231231234", "12312312312"]
    for number in numbers:
        moment = START + DAY * rng.randint(-10, 480)
        expected = find_rate(type(loaded)(1, "x", "USD", reference), number, moment)
        assert find_rate(loaded, number, moment) == expected, (number, moment)
    assert find_rate(loaded, "1231231231231231234", NOW).rate == Decimal("0.9")


def test_a_rate_edit_patches_its_prefix_only(routing_data, caplog):
    alpha, beta = decks(routing_data)
    for deck, value in ((alpha, "0.02"), (beta, "0.03")):
        Rate.objects.bulk_create(
            Rate(deck=deck, prefix=p, rate=Decimal(value), effective_from=START)
            for p in ["336", *(f"44{i}" for i in range(100))]
        )
    Rate.objects.create(deck=alpha, prefix="33", rate=Decimal("0.05"), effective_from=START)
    bump_routing_version()
    table = build_from_database()
    alpha_deck = table.carrier_decks[routing_data.alpha.pk]
    beta_rates = table.carrier_decks[routing_data.beta.pk].rates
    assert find_rate(alpha_deck, "33612345678", NOW).rate == Decimal("0.02")

    edited = Rate.objects.get(deck=alpha, prefix="336")
    edited.rate = Decimal("0.01")
    edited.full_clean()
    edited.save()
    with caplog.at_level(logging.INFO, logger="c4router.loader"):
        patched = update_from_database(table)
    assert patched is not None
    assert "1 rate prefixes and 0 decks re-read" in caplog.text
    assert find_rate(patched.carrier_decks[routing_data.alpha.pk], "33612345678", NOW).rate == (
        Decimal("0.01")
    )
    assert patched.carrier_decks[routing_data.beta.pk].rates is beta_rates  # not re-read
    assert patched.rules is table.rules  # the rules are not rebuilt
    assert patched.carrier_decks[routing_data.alpha.pk].rates.keys is alpha_deck.rates.keys
    # The old table is not modified: requests still reading it see the old rate.
    assert find_rate(alpha_deck, "33612345678", NOW).rate == Decimal("0.02")

    edited.prefix = "3399"  # moved: 336 falls back to 33, 3399 has it
    edited.save()
    moved = update_from_database(patched)
    assert moved is not None
    alpha_now = moved.carrier_decks[routing_data.alpha.pk]
    assert find_rate(alpha_now, "33612345678", NOW).rate == Decimal("0.05")
    assert find_rate(alpha_now, "33991234567", NOW).rate == Decimal("0.01")
    assert alpha_now.count == 102

    later = Rate.objects.create(deck=alpha, prefix="3361", rate=Decimal("0.04"),
                                effective_from=NOW + DAY)  # fmt: skip
    future = update_from_database(moved)
    assert future is not None
    alpha_now = future.carrier_decks[routing_data.alpha.pk]
    assert find_rate(alpha_now, "33612345678", NOW).rate == Decimal("0.05")  # not yet
    assert find_rate(alpha_now, "33612345678", NOW + 2 * DAY).rate == Decimal("0.04")  # on time
    later.delete()
    gone = update_from_database(future)
    assert gone is not None
    alpha_now = gone.carrier_decks[routing_data.alpha.pk]
    assert find_rate(alpha_now, "33612345678", NOW + 2 * DAY).rate == Decimal("0.05")


def test_a_whole_deck_change_re_reads_that_deck_only(routing_data, caplog):
    alpha, beta = decks(routing_data)
    Rate.objects.create(deck=alpha, prefix="33", rate=Decimal("0.02"), effective_from=START)
    Rate.objects.create(deck=beta, prefix="33", rate=Decimal("0.03"), effective_from=START)
    table = build_from_database()
    beta_rates = table.carrier_decks[routing_data.beta.pk].rates
    # An import's way: rows written in bulk (no signals), then one bump naming the deck.
    Rate.objects.filter(deck=alpha).delete()
    Rate.objects.bulk_create(
        Rate(deck=alpha, prefix=p, rate=Decimal("0.01"), effective_from=START) for p in ("33", "34")
    )
    bump_routing_version(changed=Changes(rates=[(alpha.pk, None, None)]))
    with caplog.at_level(logging.INFO, logger="c4router.loader"):
        patched = update_from_database(table)
    assert patched is not None
    assert "0 rate prefixes and 1 decks re-read" in caplog.text
    assert patched.carrier_decks[routing_data.beta.pk].rates is beta_rates
    alpha_now = patched.carrier_decks[routing_data.alpha.pk]
    assert alpha_now.count == 2 and not alpha_now.rates.overlay
    assert find_rate(alpha_now, "3412", NOW).rate == Decimal("0.01")


def test_the_workers_share_one_file_per_deck_and_version(routing_data, settings, tmp_path):
    """With a deck cache, the first build writes each deck's arrays to a file and maps it;
    another worker's build (here: this process again) maps the same file, with the same
    answers; a new version gets a new file and the old one goes."""
    cache = tmp_path / "decks"
    settings.C4ROUTER = {**settings.C4ROUTER, "DECK_CACHE_DIR": str(cache)}
    alpha, _ = decks(routing_data)
    Rate.objects.bulk_create(
        Rate(deck=alpha, prefix=f"33{i}", rate=Decimal(i) / 1000, effective_from=START)
        for i in range(1, 200)
    )
    bump_routing_version(changed=Changes(rates=[(alpha.pk, None, None)]))
    first = build_from_database()
    files = sorted(cache.glob(f"deck-{alpha.pk}-*.bin"))
    assert len(files) == 1 and oct(cache.stat().st_mode & 0o777) == "0o700"
    second = build_from_database()
    one, other = (t.carrier_decks[routing_data.alpha.pk] for t in (first, second))
    assert isinstance(other.rates.keys, memoryview)  # mapped, not a copy
    for number in ("33112", "3319912", "33", "4412"):
        assert find_rate(other, number, NOW) == find_rate(one, number, NOW)
    assert find_rate(other, "3319912", NOW).rate == Decimal("0.199")

    Rate.objects.filter(deck=alpha, prefix="33199").update(rate=Decimal("0.5"))
    bump_routing_version()  # "everything": a full build at a new version
    third = build_from_database()
    assert find_rate(third.carrier_decks[routing_data.alpha.pk], "3319912", NOW).rate == (
        Decimal("0.5")
    )
    assert sorted(cache.glob(f"deck-{alpha.pk}-*.bin")) != files  # replaced
    assert len(list(cache.glob(f"deck-{alpha.pk}-*.bin"))) == 1


def test_a_forced_rebuild_does_not_trust_the_deck_cache(routing_data, settings, tmp_path):
    from routing.loader import holder

    settings.C4ROUTER = {**settings.C4ROUTER, "DECK_CACHE_DIR": str(tmp_path / "d")}
    alpha, _ = decks(routing_data)
    Rate.objects.create(deck=alpha, prefix="33", rate=Decimal("0.02"), effective_from=START)
    previous = holder.table
    try:
        holder.refresh(force=True)
        Rate.objects.filter(deck=alpha).update(rate=Decimal("0.03"))  # no version bump
        holder.refresh(force=True)
        deck = holder.table.carrier_decks[routing_data.alpha.pk]
        assert find_rate(deck, "3312", NOW).rate == Decimal("0.03")
    finally:
        holder.table = previous


def test_a_deck_cache_others_may_write_is_refused(tmp_path):
    import pytest

    from routing import deck_cache

    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(PermissionError, match="writable by others"):
        deck_cache.cached(str(shared), "x", 1, 1, lambda: DeckRates.from_rows([]))


def test_a_full_build_sweeps_the_files_of_deleted_decks(routing_data, settings, tmp_path):
    """A deleted deck's file goes at a full build once an hour old (younger: a deck another
    worker just created may not be in this table yet), as a writer's leftover; another
    database's file of the same deck id stays, as the decks still there."""
    import os
    import time

    from routing import deck_cache

    cache = tmp_path / "decks"
    settings.C4ROUTER = {**settings.C4ROUTER, "DECK_CACHE_DIR": str(cache)}
    alpha, beta = decks(routing_data)
    for deck in (alpha, beta):
        Rate.objects.create(deck=deck, prefix="33", rate=Decimal("0.02"), effective_from=START)
    bump_routing_version()
    build_from_database()
    (beta_file,) = cache.glob(f"deck-{beta.pk}-*.bin")
    elsewhere = cache / f"deck-{beta.pk}-elsewhere.bin"  # another database's deck of that id
    deck_cache._write(elsewhere, {"identity": "other|5432|db|1", "deck": beta.pk, "version": 1},
                      DeckRates.from_rows([]))  # fmt: skip
    leftover = cache / f"deck-{alpha.pk}-abc.tmp4242"
    leftover.write_bytes(b"half a deck")
    beta.delete()
    bump_routing_version()
    build_from_database()
    assert beta_file.exists() and leftover.exists()  # not an hour old yet
    old = time.time() - 2 * deck_cache.SWEEP_AGE_S
    for path in cache.iterdir():
        os.utime(path, (old, old))
    table = build_from_database()
    assert not beta_file.exists() and not leftover.exists()
    assert elsewhere.exists()
    assert len(list(cache.glob(f"deck-{alpha.pk}-*.bin"))) == 1  # the deck still there: its file
    assert find_rate(table.carrier_decks[routing_data.alpha.pk], "3312", NOW).rate == Decimal(
        "0.02"
    )
