"""The compiled rate decks (routing.engine.rates) give the answers of the simple dict they
replace: random decks, numbers and moments (hypothesis), with and without an overlay."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from routing.engine.rates import (
    DeckRow,
    RateRow,
    build_deck,
    find_match,
    find_rate,
    number_probe,
    prefix_key,
    prefix_of,
    priced,
)

from .builders import NOW


def reference(rows: list[RateRow], number: str, now) -> RateRow | None:  # type: ignore[no-untyped-def]
    """The first design: a dict prefix -> rates (latest start first), probed per length."""
    by_prefix: dict[str, list[RateRow]] = {}
    for row in rows:
        by_prefix.setdefault(row.prefix, []).append(row)
    for length in sorted({len(p) for p in by_prefix}, reverse=True):
        if length > len(number):
            continue
        for rate in sorted(by_prefix.get(number[:length], ()), key=lambda r: r.effective_from,
                           reverse=True):  # fmt: skip
            if rate.effective_from <= now and (
                rate.effective_until is None or now < rate.effective_until
            ):
                return rate
    return None


PREFIX = st.one_of(
    st.text("0123", max_size=6),
    st.text("12", min_size=17, max_size=20),  # at and past the keys' 17 digits
)


@st.composite
def rate_rows(draw, prefixes=PREFIX):  # type: ignore[no-untyped-def]
    rows: dict[tuple[str, int], RateRow] = {}
    for _ in range(draw(st.integers(0, 40))):
        prefix = draw(prefixes)
        start = draw(st.integers(-5, 5))
        span = draw(st.one_of(st.none(), st.integers(1, 6)))
        rows[(prefix, start)] = RateRow(
            prefix,
            Decimal(draw(st.integers(0, 9))) / 1000,
            NOW + timedelta(days=start),
            None if span is None else NOW + timedelta(days=start + span),
            Decimal(draw(st.integers(0, 2))) / 100,
            draw(st.sampled_from((1, 6, 60))),
            draw(st.sampled_from((1, 6, 60))),
        )
    return list(rows.values())


NUMBER = st.one_of(
    st.text("0123", max_size=9),
    st.text("12", min_size=16, max_size=21),
    st.text("0123#*a", max_size=8),  # not only digits: the digits before count
)
MOMENT = st.integers(-7, 12).map(lambda days: NOW + timedelta(days=days, hours=1))


@settings(max_examples=150, deadline=None)
@given(rate_rows(), st.lists(st.tuples(NUMBER, MOMENT), min_size=1, max_size=30))
def test_the_arrays_answer_as_the_dict(rows, calls):  # type: ignore[no-untyped-def]
    deck = build_deck(DeckRow(1, "d", "USD", carrier_id=1, rates=tuple(rows)))
    assert deck.count == len(rows)
    for number, now in calls:
        assert find_rate(deck, number, now) == reference(rows, number, now), (number, now)


@settings(max_examples=120, deadline=None)
@given(rate_rows(), rate_rows(), st.lists(st.tuples(NUMBER, MOMENT), min_size=1, max_size=30))
def test_an_overlay_answers_as_the_dict_of_the_new_rows(before, after, calls):  # type: ignore[no-untyped-def]
    """An edit: the prefixes whose rates changed (added, changed, removed) in the overlay."""
    deck = build_deck(DeckRow(1, "d", "USD", carrier_id=1, rates=tuple(before)))
    touched = {r.prefix for r in before} ^ {r.prefix for r in after}
    touched |= {r.prefix for r in after if r not in before}
    changed = {p: tuple(r for r in after if r.prefix == p) for p in touched}
    patched = dataclass_replace(deck, deck.rates.with_overlay(changed))
    expected = [r for r in before if r.prefix not in touched] + [
        r for r in after if r.prefix in touched
    ]
    assert patched.count == len(expected)
    for number, now in calls:
        assert find_rate(patched, number, now) == reference(expected, number, now), (number, now)
    for number, now in calls:  # the old deck is not modified (requests may still read it)
        assert find_rate(deck, number, now) == reference(before, number, now)


@settings(max_examples=300, deadline=None)
@given(
    rate_rows(st.text("0123", max_size=6)),  # the arrays alone (no overlay)
    st.data(),
    st.lists(st.tuples(NUMBER, MOMENT), max_size=30),
)
def test_a_lookup_within_a_rules_prefix_answers_as_the_whole_deck(rows, data, calls):  # type: ignore[no-untyped-def]
    """find_match(..., within=P), as a least-cost rule for P looks up each number it routes
    (the bisection over P's keys only, remembered per deck and prefix, and when nothing
    splits P the rate itself, from the latest start it read on), finds the rate the dict
    does: P in the deck or not, split by longer prefixes or not, rates past, present, ended
    and future, moments in any order."""
    prefixes = sorted({row.prefix for row in rows})
    how = data.draw(st.sampled_from(("exact", "part", "under", "any")))
    if prefixes and how != "any":
        chosen = data.draw(st.sampled_from(prefixes))
        if how == "part":  # a prefix the deck's longer ones split
            within = chosen[: data.draw(st.integers(0, len(chosen)))]
        elif how == "under":  # under a deck prefix, split by none (9 is in no prefix)
            within = chosen + "9" * data.draw(st.integers(1, 3))
        else:
            within = chosen
    else:
        within = data.draw(st.text("0123", max_size=7))
    deck = build_deck(DeckRow(1, "d", "USD", carrier_id=1, rates=tuple(rows)))
    for suffix, now in calls:
        number = within + suffix
        match = find_match(deck, number, now, number_probe(number), within)
        found = None if match is None else priced(deck, match)[0]
        assert found == reference(rows, number, now), (number, now)
    assert not rows or not within or len(deck.rates.within) <= 1


def test_a_rules_prefix_keeps_following_its_rates_dates():
    """The cases of find_match(within=P) the random decks meet least: a rate announced for
    later, a rate that ends, and moments back before the rate remembered started."""
    day = timedelta(days=1)
    rows = [
        RateRow("44", Decimal("0.1"), NOW - 9 * day),
        RateRow("4420", Decimal("0.2"), NOW - 2 * day),
        RateRow("4420", Decimal("0.3"), NOW + 3 * day),  # announced
        RateRow("4430", Decimal("0.4"), NOW - 2 * day, NOW + 2 * day),  # ends
    ]
    deck = build_deck(DeckRow(1, "d", "USD", carrier_id=1, rates=tuple(rows)))

    def rate(number: str, moment) -> Decimal | None:  # type: ignore[no-untyped-def]
        within = number[:4]
        match = find_match(deck, number, moment, number_probe(number), within)
        return None if match is None else priced(deck, match)[0].rate

    for number in ("44201", "44205"):
        assert rate(number, NOW) == Decimal("0.2")
        assert rate(number, NOW + 4 * day) == Decimal("0.3")
        assert rate(number, NOW - 3 * day) == Decimal("0.1")  # before 4420 started
    for number in ("44301", "44309"):
        assert rate(number, NOW) == Decimal("0.4")
        assert rate(number, NOW + 3 * day) == Decimal("0.1")  # 4430 ended
    assert rate("44501", NOW) == Decimal("0.1")  # under 44, split by no one
    assert rate("44501", NOW - 10 * day) is None  # before 44 started


def dataclass_replace(deck, rates):  # type: ignore[no-untyped-def]
    import dataclasses

    return dataclasses.replace(deck, rates=rates)


def test_a_prefix_key_gives_its_prefix_back():
    for prefix in ("", "0", "00", "1", "33", "330", "0336", "12345678901234567"):
        assert prefix_of(prefix_key(prefix)) == prefix


def test_a_big_deck_costs_14_bytes_a_rate_and_uses_its_directory():
    rows = [
        RateRow(str(10_000 + i * 7), Decimal(i % 900) / 10000, NOW - timedelta(days=1))
        for i in range(100_000)
    ]
    deck = build_deck(DeckRow(1, "big", "USD", carrier_id=1, rates=tuple(rows)))
    directory = deck.rates.directory
    assert directory is not None  # 65,536 slots at most: 0.26 B a rate at 1M rates
    assert (deck.rates.nbytes() - 4 * len(directory)) / len(rows) == 14
    for row in rows[::997]:
        assert find_rate(deck, row.prefix + "123", NOW) == row
    assert find_rate(deck, "9", NOW) is None
