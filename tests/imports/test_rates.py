"""Rate deck imports (routing.imports_rates, manage.py import_rates): the preview's counts
and samples, the all-or-nothing apply at its effective date, the deck habits."""

from __future__ import annotations

import datetime
import io
import zoneinfo
from decimal import Decimal
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from routing.engine.rates import DeckRow, RateRow, build_deck, find_rate
from routing.imports import ImportFailed
from routing.imports_rates import import_rates
from routing.models import Rate, RateDeck, RoutingVersion

PAST = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
HEADER = "prefix,rate,connect_fee,initial_increment,next_increment,description\n"


@pytest.fixture
def deck(world: dict[str, Any]) -> RateDeck:
    """Alpha's deck: 33 at 0.01, 44 at 0.02, 49 at 0.03 (60/60), 1 at 0.005, since PAST."""
    deck = RateDeck.objects.create(name="Alpha buy", carrier=world["alpha"], currency="EUR")
    for prefix, rate in (("33", "0.01"), ("44", "0.02"), ("1", "0.005")):
        Rate.objects.create(deck=deck, prefix=prefix, rate=Decimal(rate), effective_from=PAST)
    Rate.objects.create(
        deck=deck, prefix="49", rate=Decimal("0.03"), effective_from=PAST,
        initial_increment=60, next_increment=60,
    )  # fmt: skip
    return deck


# 33 up, 44 down, 49 same rate but 1/1 billing now, 1 not in the file, 336 new, 7 same.
FILE = "prefix,rate\n+33,0.012\n44,0.015\n49,0.03\n336,0.02\n"


def run(deck: RateDeck, text: str, **kwargs: Any):  # type: ignore[no-untyped-def]
    return import_rates(deck, io.StringIO(text), filename="test.csv", **kwargs)


def in_effect(deck: RateDeck, number: str, when: datetime.datetime) -> RateRow | None:
    rows = tuple(
        RateRow(*values)
        for values in Rate.objects.filter(deck=deck).values_list(
            "prefix", "rate", "effective_from", "effective_until", "connect_fee",
            "initial_increment", "next_increment",
        )
    )  # fmt: skip
    return find_rate(build_deck(DeckRow(deck.pk, deck.name, "EUR", rates=rows)), number, when)


def test_the_preview_counts_each_kind_with_samples_and_writes_nothing(deck):
    before = list(Rate.objects.values_list("id", "prefix", "rate", "effective_until"))
    version = RoutingVersion.objects.get().version
    result = run(deck, FILE, preview=True)
    assert result.rows == 4
    assert result.counts == {
        "new": 1, "increased": 1, "decreased": 1, "unchanged": 0, "terms": 1, "removed": 1
    }  # fmt: skip
    assert [c.as_dict() for c in result.samples["increased"]] == [
        {"prefix": "33", "old": "0.01", "new": "0.012", "line": 2, "effective_from": None}
    ]
    assert result.samples["removed"][0].as_dict() == {
        "prefix": "1", "old": "0.005", "new": None, "line": None, "effective_from": None
    }  # fmt: skip
    assert result.samples["new"][0].prefix == "336"
    assert list(Rate.objects.values_list("id", "prefix", "rate", "effective_until")) == before
    assert RoutingVersion.objects.get().version == version


def test_apply_starts_the_new_rates_at_the_date_and_ends_the_replaced_ones(deck):
    when = timezone.now() + datetime.timedelta(days=7)
    version = RoutingVersion.objects.get().version
    result = run(deck, "prefix,rate\n+33,0.012\n44,0.02\n336,0.02\n", effective_from=when)
    assert (result.counts["unchanged"], result.counts["removed"]) == (1, 2)
    assert (result.created, result.ended, result.deleted) == (2, 3, 0)
    assert RoutingVersion.objects.get().version == version + 1
    before, after = when - datetime.timedelta(seconds=1), when
    # Until the date, the old deck; from it, the file.
    assert in_effect(deck, "3361234", before).rate == Decimal("0.01")  # type: ignore[union-attr]
    assert in_effect(deck, "3361234", after).rate == Decimal("0.02")  # type: ignore[union-attr]
    assert in_effect(deck, "3312345", after).rate == Decimal("0.012")  # type: ignore[union-attr]
    assert in_effect(deck, "1555", before) is not None
    assert in_effect(deck, "1555", after) is None  # removed: ends at the date
    assert in_effect(deck, "4912", after) is None
    # 44 kept as it was (one row, open-ended, the same id).
    kept = Rate.objects.get(deck=deck, prefix="44")
    assert kept.effective_from == PAST and kept.effective_until is None
    # History: the ended rows with their end ("~"), the new ones ("+").
    ended = Rate.history.filter(history_type="~", history_change_reason="rate import of test.csv")
    assert sorted(h.prefix for h in ended) == ["1", "33", "49"]
    assert all(h.effective_until == when for h in ended)
    created = Rate.history.filter(history_type="+", effective_from=when)
    assert sorted(h.prefix for h in created) == ["33", "336"]


def test_a_second_import_at_a_later_date_replaces_the_future_rates(deck):
    first = timezone.now() + datetime.timedelta(days=7)
    second = first + datetime.timedelta(days=7)
    run(deck, "prefix,rate\n33,0.02\n", effective_from=second)
    result = run(deck, "prefix,rate\n33,0.03\n", effective_from=first)
    assert result.deleted == 1  # the rate from `second` on
    assert in_effect(deck, "33", second).rate == Decimal("0.03")  # type: ignore[union-attr]
    again = run(deck, "prefix,rate\n33,0.03\n", effective_from=first, preview=True)
    assert again.counts["unchanged"] == 1 and again.counts["removed"] == 0


def test_the_same_file_twice_changes_nothing_the_second_time(deck):
    run(deck, FILE)
    rows = list(Rate.objects.order_by("id").values_list("id", "effective_until"))
    result = run(deck, FILE)
    assert result.counts["unchanged"] == 4
    assert (result.created, result.ended, result.deleted) == (0, 0, 0)
    assert list(Rate.objects.order_by("id").values_list("id", "effective_until")) == rows


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("prefix;rate\n33;0,012\n", ["Line 2, rate: “0,012” has a decimal comma: write 0.012"]),
        ('prefix,rate\n33,"0,012"\n', ["Line 2, rate: “0,012” has a decimal comma"]),
        (
            "prefix,rate\n33,0,012\n",
            [
                "Line 2, file: Expected 2 cells as in the header, found 3. "
                "A rate with a decimal comma (0,0125) splits"
            ],
        ),
        ("prefix,rate\n33,0.01\n34,0.02\n+33,0.03\n", ["Line 4, prefix: Prefix 33 is on line 2"]),
        ("prefix,rate\n3a,0.01\n", ["Line 2, prefix: Enter digits only"]),
        ("prefix,rate\n33,-1\n", ["Line 2, rate: Ensure this value is greater than or equal to 0"]),
        (
            "prefix,rate\n33,0.0000001\n",
            ["Line 2, rate: Ensure that there are no more than 6 decimal places"],
        ),
        ("prefix,rate\n33,\n", ["Line 2, rate: This field cannot be blank"]),
        (
            "prefix,rate,initial_increment\n33,0.1,0\n",
            ["Line 2, initial_increment: Ensure this value is greater than or equal to 1"],
        ),
        ("prefix,rate,description\n33,0.1,a\x00b\n", ["Line 2, description:"]),
        ("prefix,rate\n", ["Line 2, file: The file has no rates"]),
        ("rate\n0.1\n", ["Line 1, prefix: This column is required"]),
    ],
)
def test_a_bad_file_is_refused_with_the_line_and_nothing_changes(deck, text, expected):
    before = list(Rate.objects.values_list("id", "prefix", "rate", "effective_until"))
    with pytest.raises(ImportFailed) as failed:
        run(deck, text)
    shown = str(failed.value)
    for part in expected:
        assert part in shown
    assert list(Rate.objects.values_list("id", "prefix", "rate", "effective_until")) == before


def test_deck_habits_header_plus_formula_quote_and_optional_columns(deck):
    text = HEADER + "+44,0.02,,,,'=UK\n" + "'+7,0.1,0.05,60,6,Russia\n"
    result = run(deck, text)
    assert result.counts["new"] == 1 and result.counts["terms"] == 1  # 44: a description
    seven = Rate.objects.get(deck=deck, prefix="7")
    assert (seven.connect_fee, seven.initial_increment, seven.next_increment) == (
        Decimal("0.05"), 60, 6
    )  # fmt: skip
    assert Rate.objects.get(deck=deck, prefix="44", effective_until=None).description == "=UK"


def test_an_effective_date_in_the_past_is_refused(deck):
    with pytest.raises(ImportFailed, match="is in the past"):
        run(deck, FILE, effective_from=timezone.now() - datetime.timedelta(hours=1))


def test_the_command_previews_then_applies(deck, tmp_path):
    path = tmp_path / "deck.csv"
    path.write_text(FILE, encoding="utf-8")
    out = io.StringIO()
    call_command("import_rates", "Alpha buy", str(path), "--preview", stdout=out)
    text = out.getvalue()
    assert "Preview of deck Alpha buy" in text
    assert "4 rows: 1 new, 1 increased, 1 decreased, 0 unchanged" in text
    assert "  33: 0.01 -> 0.012 (line 2)" in text
    assert "  1: 0.005 (ends)" in text
    assert "Preview only: nothing was written." in text
    assert Rate.objects.count() == 4
    when = (timezone.now() + datetime.timedelta(days=1)).isoformat()
    out = io.StringIO()
    call_command("import_rates", "Alpha buy", str(path), "--effective-from", when, stdout=out)
    assert "Imported deck Alpha buy" in out.getvalue()
    assert Rate.objects.filter(deck=deck, effective_from__gt=timezone.now()).count() == 4


def test_the_command_names_the_bad_line(deck, tmp_path):
    path = tmp_path / "deck.csv"
    path.write_text("prefix;rate\n33;0,5\n", encoding="utf-8")
    with pytest.raises(CommandError, match="Line 2, rate: “0,5” has a decimal comma"):
        call_command("import_rates", "Alpha buy", str(path))
    with pytest.raises(CommandError, match="no rate deck named 'Nope'"):
        call_command("import_rates", "Nope", str(path))


def test_an_applied_import_reaches_a_running_table_and_only_its_deck_is_re_read(deck, world):
    """The workers patch their table after an import: the deck it names is read again (its
    new rates answer at the effective date), the other decks keep their arrays."""
    from routing.loader import build_from_database, update_from_database

    other = RateDeck.objects.create(name="Beta buy", carrier=world["beta"], currency="EUR")
    Rate.objects.create(deck=other, prefix="33", rate=Decimal("0.02"), effective_from=PAST)
    table = build_from_database()
    kept = table.carrier_decks[world["beta"].pk].rates
    when = timezone.now() + datetime.timedelta(minutes=1)
    run(deck, FILE, effective_from=when)
    patched = update_from_database(table)
    assert patched is not None and patched.version > table.version
    alpha = patched.carrier_decks[world["alpha"].pk]
    assert find_rate(alpha, "3312", when).rate == Decimal("0.012")
    assert find_rate(alpha, "3312", when - datetime.timedelta(seconds=1)).rate == Decimal("0.01")
    assert patched.carrier_decks[world["beta"].pk].rates is kept


def test_export_rates_writes_the_deck_in_effect_and_it_imports_back_unchanged(deck, tmp_path):
    path = tmp_path / "out.csv"
    call_command("export_rates", "Alpha buy", str(path), stderr=io.StringIO())
    text = path.read_text(encoding="utf-8")
    assert text.splitlines() == [
        "prefix,rate,connect_fee,initial_increment,next_increment,description",
        "1,0.005,0,1,1,",
        "33,0.01,0,1,1,",
        "44,0.02,0,1,1,",
        "49,0.03,0,60,60,",
    ]
    result = run(deck, text, preview=True)
    assert result.counts["unchanged"] == 4 and sum(result.counts.values()) == 4
    with pytest.raises(CommandError, match="--at"):
        call_command("export_rates", "Alpha buy", "--at", "2026-13-01T00:00Z")
    with pytest.raises(CommandError, match="no rate deck named 'Nope'"):
        call_command("export_rates", "Nope")


# --- Delta files and per-line dates ------------------------------------------------------------


def rows_of(deck: RateDeck) -> list[tuple[Any, ...]]:
    return list(
        Rate.objects.filter(deck=deck)
        .order_by("id")
        .values_list("id", "prefix", "rate", "effective_from", "effective_until")
    )


def midnight(day: datetime.date) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time(), tzinfo=datetime.UTC)


def test_a_delta_changes_the_files_prefixes_and_leaves_the_others(deck):
    """A delta lists only the prefixes that change: 33 up, 336 new; 44, 49 and 1 (and 44's
    future rate, which a full import would replace) stay as they are, none "removed"."""
    when = timezone.now() + datetime.timedelta(days=1)
    later = Rate.objects.create(
        deck=deck, prefix="44", rate=Decimal("0.03"), effective_from=when + datetime.timedelta(3)
    )
    others = [row for row in rows_of(deck) if row[1] != "33"]
    text = "prefix,rate\n33,0.012\n336,0.02\n"
    result = run(deck, text, effective_from=when, mode="delta", preview=True)
    assert result.mode == "delta" and result.as_dict()["mode"] == "delta"
    assert result.counts == {
        "new": 1, "increased": 1, "decreased": 0, "unchanged": 0, "terms": 0, "removed": 0
    }  # fmt: skip
    assert "removed" not in result.samples and "removed" not in result.summary
    assert [c.as_dict() for c in result.samples["increased"]] == [
        {"prefix": "33", "old": "0.01", "new": "0.012", "line": 2, "effective_from": None}
    ]
    assert result.samples["new"][0].prefix == "336"
    result = run(deck, text, effective_from=when, mode="delta")
    assert (result.created, result.ended, result.deleted) == (2, 1, 0)
    assert [row for row in rows_of(deck) if row[1] not in ("33", "336")] == others
    assert Rate.objects.filter(pk=later.pk).exists()
    assert in_effect(deck, "3312", when).rate == Decimal("0.012")  # type: ignore[union-attr]
    assert in_effect(deck, "3361", when).rate == Decimal("0.02")  # type: ignore[union-attr]
    assert in_effect(deck, "1555", when).rate == Decimal("0.005")  # type: ignore[union-attr]
    ended = Rate.history.filter(history_type="~", history_change_reason="rate import of test.csv")
    assert [(h.prefix, h.effective_until) for h in ended] == [("33", when)]
    # The same delta again: unchanged, nothing written.
    again = run(deck, text, effective_from=when, mode="delta")
    assert again.counts["unchanged"] == 2 and (again.created, again.ended) == (0, 0)


def test_a_delta_replaces_its_prefixes_later_rates_as_a_full_import(deck):
    """Within the file's prefixes a delta is a full import: 33's future rate is replaced
    (deleted, with its history record), 44's (not in the file) stays."""
    when = timezone.now() + datetime.timedelta(days=1)
    for prefix in ("33", "44"):
        Rate.objects.create(
            deck=deck, prefix=prefix, rate=Decimal("0.09"),
            effective_from=when + datetime.timedelta(days=2),
        )  # fmt: skip
    result = run(deck, "prefix,rate\n33,0.01\n", effective_from=when, mode="delta")
    assert result.counts["unchanged"] == 1 and result.deleted == 1
    assert list(
        Rate.objects.filter(deck=deck, rate=Decimal("0.09")).values_list("prefix", flat=True)
    ) == ["44"]
    deleted = Rate.history.filter(history_type="-", history_change_reason="rate import of test.csv")
    assert [h.prefix for h in deleted] == ["33"]


def test_a_delta_closes_the_prefixes_its_lines_say_removed(deck):
    """A delta line whose `change` is removed (or closed, any case) closes its prefix at its
    moment: 44 at the file's date, 49 at its line's later date (its old rate, still shown,
    is not used); 33 up as usual; 1 left as it is; 7, which the deck does not have, closes
    nothing. The preview counts them as removed, with a sample; 44's announced rate goes."""
    when = timezone.now() + datetime.timedelta(days=1)
    later = when + datetime.timedelta(days=5)
    announced = Rate.objects.create(
        deck=deck, prefix="44", rate=Decimal("0.05"), effective_from=when + datetime.timedelta(2)
    )
    text = (
        "prefix,rate,change,effective_from\n"
        "33,0.012,Increase,\n44,,removed,\n"
        f"49,0.03,Closed,{later.isoformat()}\n7,,removed,\n"
    )
    preview = run(deck, text, effective_from=when, mode="delta", preview=True)
    assert preview.counts == {
        "new": 0, "increased": 1, "decreased": 0, "unchanged": 1, "terms": 0, "removed": 2
    }  # fmt: skip
    assert "2 removed" in preview.summary and "removed" in preview.kinds
    assert [c.as_dict() for c in preview.samples["removed"]] == [
        {"prefix": "44", "old": "0.02", "new": None, "line": 3, "effective_from": None},
        {
            "prefix": "49",
            "old": "0.03",
            "new": None,
            "line": 4,
            "effective_from": later.isoformat(),
        },
    ]
    result = run(deck, text, effective_from=when, mode="delta")
    assert (result.created, result.ended, result.deleted) == (1, 3, 1)
    assert not Rate.objects.filter(pk=announced.pk).exists()
    assert in_effect(deck, "4420", when - datetime.timedelta(seconds=1)).rate == Decimal("0.02")  # type: ignore[union-attr]
    assert in_effect(deck, "4420", when) is None
    assert in_effect(deck, "4420", when + datetime.timedelta(days=3)) is None  # announced: gone
    assert in_effect(deck, "4930", later - datetime.timedelta(seconds=1)).rate == Decimal("0.03")  # type: ignore[union-attr]
    assert in_effect(deck, "4930", later) is None
    assert in_effect(deck, "3312", when).rate == Decimal("0.012")  # type: ignore[union-attr]
    assert in_effect(deck, "1555", later).rate == Decimal("0.005")  # type: ignore[union-attr]
    assert in_effect(deck, "7000", later) is None
    assert not Rate.objects.filter(deck=deck, prefix="7").exists()
    # Again: nothing left to close (unchanged), nothing written.
    again = run(deck, text, effective_from=when, mode="delta")
    assert again.counts["removed"] == 0 and (again.created, again.ended, again.deleted) == (0, 0, 0)


def test_a_full_file_closes_a_removed_line_at_its_own_date(deck):
    """In a full file a prefix left out is removed at the file's date; a removed line
    keeps its prefix until the line's own date."""
    when = timezone.now() + datetime.timedelta(days=1)
    later = when + datetime.timedelta(days=5)
    text = f"prefix,rate,change,effective_from\n33,0.01,,\n44,0.02,removed,{later.isoformat()}\n"
    result = run(deck, text, effective_from=when)
    assert result.counts["removed"] == 3  # 44 at its date; 49 and 1 (left out) at the file's
    assert in_effect(deck, "4420", later - datetime.timedelta(seconds=1)).rate == Decimal("0.02")  # type: ignore[union-attr]
    assert in_effect(deck, "4420", later) is None
    assert in_effect(deck, "4930", when) is None and in_effect(deck, "1555", when) is None


def test_an_unknown_change_word_is_refused_naming_the_line(deck):
    before = rows_of(deck)
    with pytest.raises(ImportFailed) as failed:
        run(deck, "prefix,rate,change\n33,0.01,\n44,0.02,delete\n", mode="delta")
    [error] = failed.value.errors
    assert (error.line, error.field) == (3, "change")
    assert "“delete” is not a change" in error.message and "removed (or closed)" in error.message
    # An empty rate without the word is still refused: a forgotten cell closes nothing.
    with pytest.raises(ImportFailed) as failed:
        run(deck, "prefix,rate,change\n44,,\n", mode="delta")
    assert [(e.line, e.field) for e in failed.value.errors] == [(2, "rate")]
    assert rows_of(deck) == before


def test_a_line_with_its_own_date_starts_then_and_ends_the_rate_in_effect_then(deck):
    """33 from its line's date (a date alone: that day's midnight, UTC here), 336 from its
    line's date-time; 44 at the file's date; 1 and 49, not in the file, end at the file's
    date. Read in the rates and through the engine's find_rate."""
    when = timezone.now() + datetime.timedelta(days=1)
    day = (when + datetime.timedelta(days=7)).date()
    own = midnight(day)
    at_336 = (when + datetime.timedelta(days=3)).replace(microsecond=0)
    text = (
        "prefix,rate,effective_from\n"
        f"33,0.02,{day.isoformat()}\n44,0.025,\n336,0.03,{at_336.isoformat()}\n"
    )
    preview = run(deck, text, effective_from=when, preview=True)
    assert (preview.counts["increased"], preview.counts["new"]) == (2, 1)
    assert preview.counts["removed"] == 2
    shown = {c.prefix: c.as_dict() for c in preview.samples["increased"]}
    assert shown["33"] == {
        "prefix": "33", "old": "0.01", "new": "0.02", "line": 2,
        "effective_from": own.isoformat(),
    }  # fmt: skip
    assert shown["44"]["effective_from"] is None  # the file's date
    assert preview.samples["new"][0].effective_from == at_336
    result = run(deck, text, effective_from=when)
    assert (result.created, result.ended, result.deleted) == (3, 4, 0)
    old, new = Rate.objects.filter(deck=deck, prefix="33").order_by("effective_from")
    assert (old.rate, old.effective_from, old.effective_until) == (Decimal("0.01"), PAST, own)
    assert (new.rate, new.effective_from, new.effective_until) == (Decimal("0.02"), own, None)
    assert Rate.objects.get(deck=deck, prefix="336").effective_from == at_336
    assert Rate.objects.get(deck=deck, prefix="1").effective_until == when
    assert Rate.objects.get(deck=deck, prefix="44", rate=Decimal("0.02")).effective_until == when
    second = datetime.timedelta(seconds=1)
    assert in_effect(deck, "3312", when).rate == Decimal("0.01")  # type: ignore[union-attr]
    assert in_effect(deck, "3312", own - second).rate == Decimal("0.01")  # type: ignore[union-attr]
    assert in_effect(deck, "3312", own).rate == Decimal("0.02")  # type: ignore[union-attr]
    assert in_effect(deck, "4412", when).rate == Decimal("0.025")  # type: ignore[union-attr]
    assert in_effect(deck, "3361", at_336 - second).rate == Decimal("0.01")  # type: ignore[union-attr]
    assert in_effect(deck, "3361", at_336).rate == Decimal("0.03")  # type: ignore[union-attr]
    assert in_effect(deck, "1555", when) is None
    ended = Rate.history.filter(history_type="~", history_change_reason="rate import of test.csv")
    assert sorted((h.prefix, h.effective_until) for h in ended) == sorted(
        [("1", when), ("33", own), ("44", when), ("49", when)]
    )
    created = Rate.history.filter(history_type="+", history_change_reason="rate import of test.csv")
    assert sorted((h.prefix, h.effective_from) for h in created) == sorted(
        [("33", own), ("336", at_336), ("44", when)]
    )
    # The same file again: every line unchanged at its own date.
    again = run(deck, text, effective_from=when, preview=True)
    assert again.counts["unchanged"] == 3 and again.counts["removed"] == 0


def test_a_line_is_compared_with_the_rate_in_effect_at_its_own_date(deck):
    """33 is 0.01 now and 0.05 from D+5 on (a future rate already in the deck). A line
    0.03 from D+10 is a decrease (against 0.05), one from D+3 an increase (against 0.01):
    the 0.01 ends at D+3 and the 0.05, starting after it, is replaced."""
    when = timezone.now() + datetime.timedelta(days=1)
    at_5 = when + datetime.timedelta(days=5)
    Rate.objects.filter(deck=deck, prefix="33").update(effective_until=at_5)
    Rate.objects.create(deck=deck, prefix="33", rate=Decimal("0.05"), effective_from=at_5)
    at_10, at_3 = when + datetime.timedelta(days=10), when + datetime.timedelta(days=3)
    late = run(deck, f"prefix,rate,effective_from\n33,0.03,{at_10.isoformat()}\n",
               effective_from=when, mode="delta", preview=True)  # fmt: skip
    assert late.counts["decreased"] == 1 and late.counts["increased"] == 0
    assert late.samples["decreased"][0].old == "0.05"
    text = f"prefix,rate,effective_from\n33,0.03,{at_3.isoformat()}\n"
    early = run(deck, text, effective_from=when, mode="delta")
    assert early.counts["increased"] == 1 and early.samples["increased"][0].old == "0.01"
    assert (early.created, early.ended, early.deleted) == (1, 1, 1)
    assert list(
        Rate.objects.filter(deck=deck, prefix="33")
        .order_by("effective_from")
        .values_list("rate", "effective_from", "effective_until")
    ) == [(Decimal("0.01"), PAST, at_3), (Decimal("0.03"), at_3, None)]


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("past", "Line 3, effective_from: {past} is in the past"),
        ("before", "Line 3, effective_from: {before} is before the file's effective date"),
        ("2026-13-01", "Line 3, effective_from: “2026-13-01” is not a date"),
        ("next week", "Line 3, effective_from: “next week” is not a date"),
    ],
)
def test_a_bad_line_date_is_refused_naming_the_line_and_nothing_changes(deck, cell, expected):
    when = timezone.now() + datetime.timedelta(days=2)
    past = (timezone.now() - datetime.timedelta(hours=1)).replace(microsecond=0)
    before = (when - datetime.timedelta(days=1)).replace(microsecond=0)
    value = {"past": past.isoformat(), "before": before.isoformat()}.get(cell, cell)
    text = f"prefix,rate,effective_from\n44,0.02,\n33,0.5,{value}\n"
    before_rows = rows_of(deck)
    for mode in ("full", "delta"):
        with pytest.raises(ImportFailed) as failed:
            run(deck, text, effective_from=when, mode=mode)
        assert expected.format(past=past.isoformat(), before=before.isoformat()) in str(
            failed.value
        )
    assert rows_of(deck) == before_rows


def test_a_line_date_without_an_offset_is_in_the_servers_time_zone(deck, settings):
    """As the file's own date (--effective-from, the admin's form): naive is the server's
    TIME_ZONE, a date alone its midnight there."""
    settings.TIME_ZONE = "Europe/Paris"
    day = (timezone.now() + datetime.timedelta(days=9)).date()
    text = f"prefix,rate,effective_from\n33,0.02,{day.isoformat()}\n44,0.03,{day}T06:00\n"
    run(deck, text, mode="delta")
    paris = zoneinfo.ZoneInfo("Europe/Paris")
    starts = dict(
        Rate.objects.filter(deck=deck, effective_until=None).values_list("prefix", "effective_from")
    )
    assert starts["33"] == datetime.datetime.combine(day, datetime.time(), tzinfo=paris)
    assert starts["44"] == datetime.datetime.combine(day, datetime.time(6), tzinfo=paris)


def test_the_export_has_no_date_column_and_still_imports_back_unchanged(deck):
    """Per-line dates are an import's: the export is the deck at one moment."""
    from routing.imports_rates import rates_exporter

    out = io.StringIO()
    rates_exporter(deck)(out)
    assert out.getvalue().splitlines()[0] == HEADER.strip()
    result = run(deck, out.getvalue(), mode="delta", preview=True)
    assert result.counts["unchanged"] == 4 and sum(result.counts.values()) == 4


def test_the_command_imports_a_delta_and_line_dates(deck, tmp_path):
    day = (timezone.now() + datetime.timedelta(days=9)).date()
    path = tmp_path / "delta.csv"
    path.write_text(f"prefix,rate,effective_from\n33,0.02,{day}\n336,0.5,\n", encoding="utf-8")
    out = io.StringIO()
    call_command("import_rates", "Alpha buy", str(path), "--delta", "--preview", stdout=out)
    text = out.getvalue()
    assert "Preview of deck Alpha buy (delta) from" in text
    assert "2 rows: 1 new, 1 increased, 0 decreased, 0 unchanged, 0 same rate, other terms " \
        "changed." in text  # fmt: skip
    assert "removed" not in text.lower()
    assert f"  33: 0.01 -> 0.02 (line 2, from {midnight(day).isoformat()})" in text
    assert "Delta: the deck's prefixes not in the file stay as they are." in text
    tomorrow = (timezone.now() + datetime.timedelta(days=1)).date()
    out = io.StringIO()
    call_command(
        "import_rates", "Alpha buy", str(path), "--delta", "--effective-from",
        tomorrow.isoformat(), stdout=out,
    )  # fmt: skip
    assert f"Imported deck Alpha buy (delta) from {midnight(tomorrow).isoformat()}" in (
        out.getvalue()
    )
    assert Rate.objects.filter(deck=deck, effective_until=None).count() == 5  # 44, 49, 1 kept
    assert Rate.objects.get(deck=deck, prefix="336").effective_from == midnight(tomorrow)
    with pytest.raises(CommandError, match="or date"):
        call_command("import_rates", "Alpha buy", str(path), "--effective-from", "soon")
