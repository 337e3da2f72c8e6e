"""Number lists in the engine: entries, block and allow, attachments (no database)."""

from __future__ import annotations

import random

import pytest

from routing.engine.lists import (
    ALLOW,
    CALLER,
    EXACT,
    PREFIX,
    RANGE,
    ListEntriesBuilder,
    NumberListRow,
)
from routing.engine.table import CarrierRow, Patch, patch_table

from .builders import CARRIER_IP, base_rows, build_table, did, gateway_names, route, rule, to_gw

FRANCE = rule(1, "33", to_gw(1), to_gw(3, order=1))  # alpha-1, then beta-1


def entries(*items: tuple[str, ...]):
    builder = ListEntriesBuilder()
    for item in items:
        builder.add(*item)
    return builder.finish()


def lists_table(*lists: tuple[NumberListRow, tuple[tuple[str, ...], ...]], **changes: object):
    rows = base_rows(
        rules=(FRANCE,),
        number_lists=tuple(row for row, _ in lists),
        list_entries={row.id: entries(*items) for row, items in lists},
        **changes,
    )
    return build_table(rows)


BLOCKED = NumberListRow(1, "Fraud", reason="Destination blocked")


# --- the entries ------------------------------------------------------------------------------


def test_exact_prefix_and_range_entries_are_found_by_the_numbers_they_hold():
    found = entries(
        ("exact", "33612345678"),
        ("prefix", "3389"),
        ("prefix", "338"),
        ("range", "33140000000", "33140009999"),
    )
    assert found.find("33612345678") == (EXACT, "33612345678")
    assert found.find("33612345679") is None
    assert found.find("33891234567") == (PREFIX, "3389*")  # the longest prefix
    assert found.find("33801234567") == (PREFIX, "338*")
    assert found.find("33140005000") == (RANGE, "33140000000-33140009999")
    assert found.find("33140010000") is None
    assert found.find("3314000500") is None  # a range holds numbers of its own length only
    assert found.find("") is None


def test_leading_zeros_are_digits_of_their_own():
    found = entries(("prefix", "0033"), ("exact", "0612"))
    assert found.find("0033123") == (PREFIX, "0033*")
    assert found.find("33123") is None
    assert found.find("612") is None and found.find("0612") == (EXACT, "0612")


def test_exact_numbers_and_nested_prefixes_find_the_closest_entry():
    found = entries(
        ("prefix", "3"),
        ("prefix", "33"),
        ("prefix", "3361"),
        ("exact", "33612345678"),
        ("exact", "33"),
        ("prefix", "34"),
        *(("exact", f"336{n:08d}") for n in range(0, 10_000_000, 1000)),  # 10,000 under 336
    )
    assert found.find("33612345678") == (EXACT, "33612345678")
    assert found.find("33612345679") == (PREFIX, "3361*")
    assert found.find("33699999999") == (PREFIX, "33*")  # climbs over the 10,000 points
    assert found.find("33600001000") == (EXACT, "33600001000")
    assert found.find("33") == (EXACT, "33")
    assert found.find("331") == (PREFIX, "33*")
    assert found.find("3") == (PREFIX, "3*")
    assert found.find("35") == (PREFIX, "3*")
    assert found.find("4") is None and found.find("2999") is None
    assert found.directory is not None  # over 4096 entries: the bisection is narrowed


def test_lookups_agree_with_a_plain_scan():
    rng = random.Random(9)
    items = []
    for _ in range(6000):
        length = rng.randint(1, 12)
        items.append(
            (rng.choice(("exact", "prefix")), str(rng.randrange(10**length)).zfill(length))
        )
    found = entries(*items)
    exact = {number for match, number in items if match == "exact"}
    prefixes = {number for match, number in items if match == "prefix"}
    for _ in range(20_000):
        length = rng.randint(1, 13)
        number = str(rng.randrange(10**length)).zfill(length)
        if number in exact:
            expected = (EXACT, number)
        else:
            held = [p for p in prefixes if number.startswith(p)]
            expected = (PREFIX, max(held, key=len) + "*") if held else None
        assert found.find(number) == expected, number


def test_overlapping_and_nested_ranges_are_all_found():
    found = entries(
        ("range", "1000", "1999"),
        ("range", "1100", "1200"),
        ("range", "1300", "1310"),
        ("range", "5000", "5000"),
    )
    assert found.find("1500") == (RANGE, "1000-1999")  # the long range, behind the short ones
    assert found.find("1150") is not None
    assert found.find("1999") == (RANGE, "1000-1999")
    assert found.find("2000") is None and found.find("0999") is None
    assert found.find("5000") == (RANGE, "5000-5000")


def test_entries_given_out_of_order_are_sorted():
    numbers = [str(n) for n in random.Random(4).sample(range(10**9, 2 * 10**9), 2000)]
    found = entries(*(("exact", n) for n in numbers))
    assert all(found.find(n) == (EXACT, n) for n in numbers)
    assert found.find("1999999999") is None or "1999999999" in numbers


def test_twenty_digit_numbers_work_beyond_64_bits():
    found = entries(("exact", "9" * 20), ("prefix", "8" * 19), ("prefix", "7" * 17))
    assert found.find("9" * 20) == (EXACT, "9" * 20)
    assert found.find("9" * 19 + "8") is None
    assert found.find("9" * 18) is None and found.find("9" * 19) is None
    assert found.find("8" * 19 + "1") == (PREFIX, "8" * 19 + "*")
    assert found.find("8" * 18 + "1") is None  # an 18-digit cut of the 19-digit prefix
    assert found.find("7" * 17 + "12") == (PREFIX, "7" * 17 + "*")
    assert found.find("7" * 17) == (PREFIX, "7" * 17 + "*")
    assert found.find("7" * 16) is None


def test_a_million_entries_cost_13_bytes_each():
    builder = ListEntriesBuilder()
    for n in range(33_600_000_000, 33_601_000_000):
        builder.add("exact", str(n))
    found = builder.finish()
    assert found.count == 1_000_000
    assert found.nbytes() < 13.2 * 1_000_000  # key 8, kind 1, parent 4; the directory
    assert found.find("33600500000") == (EXACT, "33600500000")
    assert found.find("33601000000") is None


def test_bad_entries_are_refused_by_the_builder():
    builder = ListEntriesBuilder()
    with pytest.raises(ValueError, match="not 1 to 20 digits"):
        builder.add("exact", "33a")
    with pytest.raises(ValueError, match="not a valid range"):
        builder.add("range", "200", "100")
    with pytest.raises(ValueError, match="unknown match"):
        builder.add("fuzzy", "33")


# --- block and allow ----------------------------------------------------------------------------


def test_a_global_block_list_refuses_a_listed_destination_with_its_code_and_reason():
    tbl = lists_table((BLOCKED, (("prefix", "336"),)))
    decision = route(tbl)  # 0612345678 from Acme's PBX: 33612345678
    assert (decision.code, decision.reason) == (403, "Destination blocked")
    assert decision.listed is not None and decision.listed.entry == (PREFIX, "336*")
    assert "list 'Fraud'" in decision.why and "entry 336*" in decision.why
    assert not decision.routes
    assert route(tbl, to_uri="sip:0123456789@x").routed  # not listed


def test_the_list_code_and_reason_reach_the_answer():
    from routing.engine.rtjson import answer_document

    row = NumberListRow(1, "Premium", code=603, reason="Premium numbers barred")
    decision = route(lists_table((row, (("exact", "33612345678"),))))
    answer = answer_document(decision)["rtjson"]
    assert answer["success"] is False
    assert (answer["code"], answer["reason"]) == (603, "Premium numbers barred")


def test_a_caller_block_list_looks_at_the_calling_number():
    row = NumberListRow(1, "Abusers", side=CALLER, reason="Source blocked")
    tbl = lists_table((row, (("exact", "33123456789"),)))
    decision = route(tbl)  # from 0123456789: 33123456789
    assert (decision.code, decision.reason) == (403, "Source blocked")
    assert "calling 33123456789" in decision.why
    assert route(tbl, from_uri="sip:0123456780@10.10.0.10").routed


def test_an_allow_list_lets_only_its_numbers_through():
    row = NumberListRow(1, "Only France", mode=ALLOW, code=403, reason="Not allowed")
    tbl = lists_table((row, (("prefix", "33"),)))
    assert route(tbl).routed
    decision = route(tbl, to_uri="sip:00442079460000@x")
    assert (decision.code, decision.reason) == (403, "Not allowed")
    assert decision.listed is not None and decision.listed.entry is None
    assert "is on no entry" in decision.why


def test_an_allow_list_on_the_caller_refuses_a_caller_that_is_not_a_number():
    row = NumberListRow(1, "Known callers", mode=ALLOW, side=CALLER, reason="Source blocked")
    tbl = lists_table((row, (("prefix", "33"),)))
    assert route(tbl).routed
    assert route(tbl, from_uri="sip:anonymous@anonymous.invalid").code == 403


def test_numbers_are_matched_after_normalization():
    # The PBX dials 0612345678 (national); the list holds the E.164 number.
    tbl = lists_table((BLOCKED, (("exact", "33612345678"),)))
    assert route(tbl, to_uri="sip:0612345678@x").code == 403
    assert route(tbl, to_uri="sip:0033612345678@x").code == 403


def test_a_disabled_list_refuses_nothing():
    row = NumberListRow(1, "Fraud", enabled=False)
    rows = base_rows(rules=(FRANCE,), number_lists=(row,), list_entries={})
    assert route(build_table(rows)).routed


# --- attachments ------------------------------------------------------------------------------


def test_a_tenant_list_applies_to_that_tenants_calls_only():
    row = NumberListRow(1, "Acme's bar", tenant_id=1)
    tbl = lists_table((row, (("prefix", "33"),)))
    assert route(tbl).code == 403  # Acme's PBX
    globex = route(tbl, source_ip="10.20.0.5", to_uri="sip:33612345678@x")
    assert globex.routed


def test_a_tenant_list_applies_to_its_inbound_calls():
    row = NumberListRow(1, "Acme's callers", side=CALLER, tenant_id=1, reason="Source blocked")
    tbl = lists_table((row, (("exact", "33611223344"),)), dids=(did(1, "33123456785"),))
    decision = route(
        tbl,
        source_ip=CARRIER_IP,
        from_uri="sip:33611223344@198.51.100.10",
        to_uri="sip:33123456785@x",
    )
    assert (decision.code, decision.reason) == (403, "Source blocked")
    assert decision.direction == "inbound" and decision.did is not None


def test_a_carrier_list_skips_that_carrier_and_the_next_route_is_tried():
    row = NumberListRow(1, "Alpha refuses", carrier_id=1)
    tbl = lists_table((row, (("prefix", "3361"),)))
    decision = route(tbl)
    assert decision.routed
    assert gateway_names(decision) == ["beta-1"]
    assert any("list 'Alpha refuses'" in line and "3361*" in line for line in decision.skipped)
    # Numbers the list does not hold still go to Alpha first.
    assert gateway_names(route(tbl, to_uri="sip:0123456789@x")) == ["alpha-1", "beta-1"]


def test_a_call_every_carrier_refuses_is_unavailable_naming_the_lists():
    row = NumberListRow(1, "Alpha refuses", carrier_id=1)
    other = NumberListRow(2, "Beta refuses", carrier_id=2)
    tbl = lists_table((row, (("prefix", "33"),)), (other, (("prefix", "33"),)))
    decision = route(tbl)
    assert decision.code == 480
    assert "Alpha refuses" in decision.why and "Beta refuses" in decision.why


def test_global_lists_come_before_the_tenants_and_the_first_refusal_decides():
    first = NumberListRow(1, "Global", code=403, reason="Destination blocked")
    second = NumberListRow(2, "Acme", tenant_id=1, code=404, reason="Not here")
    tbl = lists_table((second, (("prefix", "33"),)), (first, (("prefix", "336"),)))
    assert route(tbl).reason == "Destination blocked"
    assert route(tbl, to_uri="sip:0123456789@x").reason == "Not here"


# --- patching ---------------------------------------------------------------------------------


def test_a_patch_rereads_only_the_lists_that_changed():
    kept = NumberListRow(1, "Kept")
    changed = NumberListRow(2, "Changed")
    old = lists_table((kept, (("exact", "33612345678"),)), (changed, (("exact", "33111"),)))
    small = base_rows(number_lists=(kept, changed))
    new = patch_table(
        old,
        Patch(
            small=small,
            lists_changed=frozenset({2}),
            list_entries={2: entries(("prefix", "44"))},
        ),
        version=2,
    )
    assert new.list_entries[1] is old.list_entries[1]  # untouched: shared, not rebuilt
    assert new.list_entries[2].find("442079460000") == (PREFIX, "44*")
    assert new.list_entries[2].find("33111") is None
    assert route(new, to_uri="sip:00442079460000@x").code == 403
    assert old.list_entries[2].find("33111") is not None  # the old table is untouched


def test_a_deleted_list_leaves_the_table():
    row = NumberListRow(1, "Fraud")
    old = lists_table((row, (("prefix", "33"),)))
    new = patch_table(old, Patch(small=base_rows(rules=(FRANCE,)), lists_changed=frozenset({1})),
                      version=2)  # fmt: skip
    assert not new.list_entries and not new.lists_global
    assert new.counts["number_lists"] == 0


def test_a_table_without_lists_has_none_to_look_up():
    tbl = build_table(base_rows(rules=(FRANCE,), carriers=(CarrierRow(1, "Alpha"),)))
    assert tbl.lists_global == () and not tbl.lists_by_tenant and not tbl.lists_by_carrier
