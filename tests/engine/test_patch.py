"""Patching a table with a few changed rows gives the table a full build would give."""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from routing.engine.table import (
    DidRow,
    Patch,
    RuleRow,
    Table,
    TableRows,
    TargetRow,
    build_table,
    patch_table,
)

from .test_reference import tables

FAST = settings(max_examples=200, deadline=None)


def shape(table: Table) -> dict[str, object]:
    """Everything patching touches, by ids."""
    return {
        "rules": {(tenant_id, prefix): rules for tenant_id, prefix, rules in table.rule_buckets()},
        "lengths": table.rule_prefix_lengths,
        "rule_lengths": table.rule_lengths,
        "exact": {n: d.id for n, d in table.dids_exact.items()},
        "prefix": {n: d.id for n, d in table.dids_prefix.items()},
        "prefix_lengths": table.did_prefix_lengths,
        "ranges": {n: tuple(d.id for d in r.rows) for n, r in table.did_ranges.items()},
        "counts": table.counts,
    }


@st.composite
def edits(draw, rows: TableRows):
    """Rows after a random handful of edits, and the Patch the change log would give."""
    rules = {r.id: r for r in rows.rules}
    dids = {d.id: d for d in rows.dids}
    rules_moved, dids_moved = [], []
    for _ in range(draw(st.integers(1, 6))):
        what = draw(st.sampled_from(["rule", "did"]))
        if what == "rule":
            rule_id = draw(st.integers(1, 30))
            old = rules.get(rule_id)
            rules_moved.append((rule_id, (old.tenant_id, old.prefix) if old else None))
            if old is not None and draw(st.booleans()):
                del rules[rule_id]
            else:
                base = old or RuleRow(id=rule_id, prefix="", targets=(TargetRow(0, gateway_id=1),))
                rules[rule_id] = base._replace(
                    id=rule_id,
                    prefix=draw(st.text("123", max_size=3)),
                    tenant_id=draw(st.sampled_from([None, 1, 2])),
                    enabled=draw(st.booleans()),
                    priority=draw(st.sampled_from([0, 100, 100])),
                    caller_prefix=draw(st.sampled_from([base.caller_prefix, ""])),
                    window=draw(st.sampled_from([base.window, None])),
                    targets=draw(st.sampled_from([base.targets, (TargetRow(1, carrier_id=2),)])),
                )
        else:
            did_id = draw(st.integers(1, 20))
            old = dids.get(did_id)
            dids_moved.append((did_id, old.number if old else None))
            taken = {(d.number, d.match) for d in dids.values() if d.id != did_id}
            if old is not None and draw(st.booleans()):
                del dids[did_id]
                continue
            match = draw(st.sampled_from(["exact", "prefix", "range"]))
            number = draw(st.text("123", min_size=1, max_size=5))
            end = ""
            if match == "range":
                end = draw(st.text("123", min_size=len(number), max_size=len(number)))
                number, end = min(number, end), max(number, end)
                if any(
                    d.match == "range" and len(d.number) == len(number)
                    and d.number <= end and number <= d.range_end
                    for d in dids.values() if d.id != did_id
                ):  # fmt: skip
                    continue  # the model refuses overlapping ranges
            if (number, match) in taken:
                continue
            dids[did_id] = DidRow(did_id, 1, 1, number, match, end, enabled=draw(st.booleans()))
    new_rows = dataclasses.replace(rows, rules=tuple(rules.values()), dids=tuple(dids.values()))
    changed_rules = {rule_id for rule_id, _ in rules_moved}
    changed_dids = {did_id for did_id, _ in dids_moved}
    patch = Patch(
        small=dataclasses.replace(new_rows, rules=(), dids=()),
        rules_moved=tuple(rules_moved),
        rules=tuple(r for r in new_rows.rules if r.id in changed_rules),
        dids_moved=tuple(dids_moved),
        dids=tuple(d for d in new_rows.dids if d.id in changed_dids),
    )
    return new_rows, patch


@FAST
@given(st.data())
def test_patched_table_equals_a_full_build(data):
    rows = data.draw(tables())
    old = build_table(rows, version=1)
    new_rows, patch = data.draw(edits(rows))
    patched = patch_table(old, patch, version=2)
    assert shape(patched) == shape(build_table(new_rows, version=2))
    assert patched.version == 2
    assert shape(old) == shape(build_table(rows, version=1))  # the old table is untouched
