"""The engine against a brute-force reference on random tables and numbers (hypothesis).

The reference scans every row for every call, written straight from the rules in the
RouteRule docstring and routing.engine.decide; the engine uses its indexes. They must agree.
"""

from __future__ import annotations

import ipaddress
import random
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routing.engine.decide import decide, find_rule, order_gateways
from routing.engine.query import parse_query
from routing.engine.table import (
    CarrierRow,
    Defaults,
    DidRow,
    GatewayRow,
    PbxRow,
    RuleRow,
    SourceRow,
    TableRows,
    TargetRow,
    TenantRow,
    Window,
    build_table,
)

from .builders import query_bytes

DIGITS = "123"  # a small alphabet: prefixes collide often
TZS = ["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata"]

digits = st.text(DIGITS, min_size=0, max_size=4)
numbers = st.text(DIGITS, min_size=1, max_size=6)
moments = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2027, 1, 1), timezones=st.just(UTC)
)


@st.composite
def windows(draw):
    if draw(st.booleans()):
        return None
    days = frozenset(draw(st.sets(st.integers(1, 7), max_size=7)))
    if draw(st.booleans()):
        start, end = None, None
        if not days:
            days = frozenset({draw(st.integers(1, 7))})
    else:
        start = time(draw(st.integers(0, 23)), draw(st.sampled_from([0, 30])))
        end = time(draw(st.integers(0, 23)), draw(st.sampled_from([0, 30])))
        if start == end:
            end = None
            start = None
            days = days or frozenset({1})
    return Window(days, start, end, ZoneInfo(draw(st.sampled_from(TZS))))


@st.composite
def tables(draw):
    carriers = tuple(CarrierRow(i, f"c{i}", enabled=draw(st.booleans())) for i in (1, 2, 3))
    gateways = tuple(
        GatewayRow(i, draw(st.sampled_from([1, 2, 3])), f"g{i}", f"192.0.2.{i}",
                   enabled=draw(st.booleans()), weight=draw(st.integers(1, 5)))
        for i in range(1, 7)
    )  # fmt: skip
    tenants = (TenantRow(1, "t1"), TenantRow(2, "t2"))
    pbxs = (PbxRow(1, 1, "p1", "10.0.0.1"), PbxRow(2, 2, "p2", "10.0.0.2"))
    targets = st.builds(
        lambda order, weight, pick: TargetRow(
            order=order,
            weight=weight,
            carrier_id=pick[1] if pick[0] == "c" else None,
            gateway_id=pick[1] if pick[0] == "g" else None,
        ),
        st.integers(0, 2),
        st.integers(1, 5),
        st.one_of(
            st.tuples(st.just("c"), st.integers(1, 3)), st.tuples(st.just("g"), st.integers(1, 6))
        ),
    )
    rules = []
    for rule_id in range(1, draw(st.integers(0, 25)) + 1):
        rules.append(
            RuleRow(
                id=rule_id,
                prefix=draw(digits),
                targets=tuple(draw(st.lists(targets, max_size=4))),
                tenant_id=draw(st.sampled_from([None, None, 1, 2])),
                caller_prefix=draw(st.sampled_from(["", "", "1", "12", "2"])),
                # 100 (with no caller prefix or window): "plain" rules, which the
                # index stores compactly.
                priority=draw(st.sampled_from([0, 1, 3, 100, 100])),
                enabled=draw(st.booleans()),
                window=draw(windows()),
            )
        )
    dids = []
    taken: set[tuple[str, str]] = set()
    ranges: list[tuple[str, str]] = []
    for did_id in range(1, draw(st.integers(0, 15)) + 1):
        match = draw(st.sampled_from(["exact", "prefix", "range"]))
        number = draw(numbers)
        range_end = ""
        if match == "range":
            range_end = draw(st.text(DIGITS, min_size=len(number), max_size=len(number)))
            number, range_end = min(number, range_end), max(number, range_end)
            if any(len(s) == len(number) and s <= range_end and number <= e for s, e in ranges):
                continue  # the model refuses overlapping ranges
            ranges.append((number, range_end))
        elif (number, match) in taken:
            continue  # unique (number, match)
        taken.add((number, match))
        dids.append(DidRow(did_id, 1, 1, number, match, range_end, enabled=draw(st.booleans())))
    sources = {}
    for _ in range(draw(st.integers(1, 8))):
        length = draw(st.integers(8, 32))
        address = draw(st.integers(0, 2**24 - 1)) | (10 << 24)
        network = ipaddress.ip_network((address, length), strict=False)
        owner = draw(st.sampled_from(["c1", "c2", "p1", "p2"]))
        sources[str(network)] = SourceRow(
            str(network),
            carrier_id=int(owner[1]) if owner[0] == "c" else None,
            pbx_id=int(owner[1]) if owner[0] == "p" else None,
        )
    rows = TableRows(
        tenants=tenants, pbxs=pbxs, carriers=carriers, gateways=gateways,
        sources=tuple(sources.values()), dids=tuple(dids), rules=tuple(rules),
    )  # fmt: skip
    return rows


# --- the reference ---------------------------------------------------------------------------


def ref_window_open(window: Window, now: datetime) -> bool:
    local = now.astimezone(window.tz).replace(tzinfo=None)
    if window.start is None:
        return local.isoweekday() in window.weekdays or not window.weekdays
    for offset in (-1, 0):
        day = local.date() + timedelta(days=offset)
        if window.weekdays and day.isoweekday() not in window.weekdays:
            continue
        opens = datetime.combine(day, window.start)
        closes = datetime.combine(
            day if window.start < window.end else day + timedelta(days=1), window.end
        )
        if opens <= local < closes:
            return True
    return False


def ref_rule(rows: TableRows, tenant_id: int, callee: str, caller: str, now: datetime):
    candidates = [
        r for r in rows.rules
        if r.enabled and r.tenant_id in (None, tenant_id) and callee.startswith(r.prefix)
        and caller.startswith(r.caller_prefix)
        and (r.window is None or ref_window_open(r.window, now))
    ]  # fmt: skip
    if not candidates:
        return None
    return min(
        candidates,
        key=lambda r: (
            -len(r.prefix), -len(r.caller_prefix), r.window is None, r.tenant_id is None,
            r.priority, r.id,
        ),
    )  # fmt: skip


def ref_did(rows: TableRows, number: str):
    enabled = [d for d in rows.dids if d.enabled]
    for d in enabled:
        if d.match == "exact" and d.number == number:
            return d
    for d in enabled:
        if (
            d.match == "range"
            and len(d.number) == len(number)
            and d.number <= number <= d.range_end
        ):
            return d
    prefixes = [d for d in enabled if d.match == "prefix" and number.startswith(d.number)]
    return max(prefixes, key=lambda d: len(d.number)) if prefixes else None


def ref_source(rows: TableRows, ip: str):
    address = ipaddress.ip_address(ip)
    matching = [s for s in rows.sources if address in ipaddress.ip_network(s.cidr)]
    return max(matching, key=lambda s: ipaddress.ip_network(s.cidr).prefixlen) if matching else None


def eligible_by_group(rows: TableRows, rule: RuleRow) -> dict[int, int]:
    """gateway id -> the first failover group (order) it can be used in."""
    carriers = {c.id: c for c in rows.carriers}
    first: dict[int, int] = {}
    for target in rule.targets:
        if target.gateway_id is not None:
            candidates = [g for g in rows.gateways if g.id == target.gateway_id]
        else:
            candidates = [g for g in rows.gateways if g.carrier_id == target.carrier_id]
        for g in candidates:
            if g.enabled and carriers[g.carrier_id].enabled:
                first[g.id] = min(first.get(g.id, 99), target.order)
    return first


# --- the properties ----------------------------------------------------------------------------

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(
    tables(), numbers, st.sampled_from(["", "1", "12", "21", "3"]), moments, st.sampled_from([1, 2])
)
def test_rule_choice_matches_the_reference(rows, callee, caller, now, tenant_id):
    table = build_table(rows)
    expected = ref_rule(rows, tenant_id, callee, caller, now)
    found = find_rule(table, tenant_id, callee, caller, now)
    assert (found and found.id) == (expected and expected.id)


@FAST
@given(tables(), numbers)
def test_did_lookup_matches_the_reference(rows, number):
    expected = ref_did(rows, number)
    found = build_table(rows).find_did(number)
    assert (found and found.id) == (expected and expected.id)


@FAST
@given(tables(), st.integers(0, 2**24 - 1))
def test_source_lookup_matches_the_reference(rows, host):
    ip = str(ipaddress.IPv4Address((10 << 24) | host))
    expected = ref_source(rows, ip)
    found = build_table(rows).find_source(ipaddress.ip_address(ip))
    assert (found and found.cidr) == (expected and expected.cidr)


@FAST
@given(tables(), st.integers(1, 4), st.integers(0, 2**32 - 1))
def test_gateway_order_respects_groups_state_and_cap(rows, cap, seed):
    table = build_table(rows, defaults=Defaults(max_routes=cap))
    for rule in rows.rules:
        chosen, _ = order_gateways(table, rule, random.Random(seed))
        eligible = eligible_by_group(rows, rule)
        ids = [g.id for g in chosen]
        assert len(ids) == len(set(ids)), "a gateway listed twice"
        assert set(ids) <= set(eligible), "a disabled or foreign gateway"
        groups = [eligible[i] for i in ids]
        assert groups == sorted(groups), "failover order broken"
        assert len(ids) == min(cap, len(eligible))


@FAST
@given(tables(), numbers, st.sampled_from(["1", "12", "2"]), moments)
def test_whole_decision_agrees_with_the_reference(rows, callee, caller, now):
    table = build_table(rows)
    for source in rows.sources:
        ip = str(ipaddress.ip_network(source.cidr).network_address)
        query = parse_query(
            query_bytes(source_ip=ip, to_uri=f"sip:{callee}@x", from_uri=f"sip:{caller}@x")
        )
        decision = decide(query, table, now, random.Random(0))
        owner = ref_source(rows, ip)
        if owner.carrier_id is not None:
            if not next(c for c in rows.carriers if c.id == owner.carrier_id).enabled:
                assert decision.code == 403
                continue
            expected = ref_did(rows, callee)
            assert decision.code == (200 if expected else 404)
            assert (decision.did and decision.did.id) == (expected and expected.id)
        else:
            pbx = next(p for p in rows.pbxs if p.id == owner.pbx_id)
            expected = ref_rule(rows, pbx.tenant_id, callee, caller, now)
            if expected is None:
                assert decision.code == 404
            else:
                assert decision.rule.id == expected.id
                assert decision.code == (200 if eligible_by_group(rows, expected) else 480)
