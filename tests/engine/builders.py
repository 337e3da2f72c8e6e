"""Small tables and queries for engine tests, without a database."""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, datetime

import orjson

from routing.engine.decide import Decision, decide
from routing.engine.numbers import NumberPlan, NumberRule
from routing.engine.query import parse_query
from routing.engine.table import (
    CarrierRow,
    DidRow,
    DomainRow,
    GatewayRow,
    PbxRow,
    RuleRow,
    SourceRow,
    Table,
    TableRows,
    TargetRow,
    TenantRow,
    build_table,
)

PBX_IP = "10.10.0.10"
CARRIER_IP = "198.51.100.10"
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)  # a Wednesday


def prefix_rule(match: str, strip: int, add: str, *, priority: int = 100, applies_to: str = "both"):
    return NumberRule(
        priority=priority,
        applies_to=applies_to,
        pattern=None,
        match_prefix=match,
        strip=strip,
        add_prefix=add,
    )


def regex_rule(pattern: str, replacement: str, *, priority: int = 100, applies_to: str = "both"):
    return NumberRule(
        priority=priority, applies_to=applies_to, pattern=pattern, replacement=replacement
    )


FRENCH_NATIONAL = NumberPlan.from_rules(
    [prefix_rule("00", 2, "", priority=10), prefix_rule("0", 1, "33", priority=20)]
)


def base_rows(**changes: object) -> TableRows:
    """Tenant Acme with PBX hq (10.10.0.0/24), carriers Alpha (2 gateways) and Beta."""
    rows = TableRows(
        tenants=(TenantRow(1, "Acme"), TenantRow(2, "Globex")),
        pbxs=(
            PbxRow(1, 1, "hq", PBX_IP, inbound=FRENCH_NATIONAL),
            PbxRow(2, 2, "globex-pbx", "10.20.0.5"),
        ),
        carriers=(CarrierRow(1, "Alpha"), CarrierRow(2, "Beta")),
        gateways=(
            GatewayRow(1, 1, "alpha-1", "203.0.113.10"),
            GatewayRow(2, 1, "alpha-2", "203.0.113.11"),
            GatewayRow(3, 2, "beta-1", "192.0.2.20"),
        ),
        sources=(
            SourceRow("10.10.0.0/24", pbx_id=1),
            SourceRow("10.20.0.5/32", pbx_id=2),
            SourceRow("198.51.100.0/28", carrier_id=1),
        ),
        domains=(DomainRow("domain.com", 1, 1),),
        dids=(),
        rules=(),
    )
    return dataclasses.replace(rows, **changes)  # type: ignore[arg-type]


def rule(rule_id: int, prefix: str, *targets: TargetRow, **fields: object) -> RuleRow:
    return RuleRow(id=rule_id, prefix=prefix, targets=tuple(targets), **fields)  # type: ignore[arg-type]


def to_gw(gateway_id: int, order: int = 0, weight: int = 100) -> TargetRow:
    return TargetRow(order=order, weight=weight, gateway_id=gateway_id)


def to_carrier(carrier_id: int, order: int = 0, weight: int = 100) -> TargetRow:
    return TargetRow(order=order, weight=weight, carrier_id=carrier_id)


def did(
    did_id: int,
    number: str,
    match: str = "exact",
    range_end: str = "",
    pbx_id: int = 1,
    tenant_id: int = 1,
) -> DidRow:
    return DidRow(did_id, tenant_id, pbx_id, number, match, range_end)


def table(**changes: object) -> Table:
    return build_table(base_rows(**changes))


def query_bytes(**fields: object) -> bytes:
    body = {
        "event": "sip-routing",
        "source_ip": PBX_IP,
        "source_port": 5060,
        "auth": 0,
        "call_id": "call-1@test",
        "from_name": "Caller",
        "from_uri": "sip:0123456789@10.10.0.10",
        "from_tag": "1",
        "to_name": "Callee",
        "to_uri": "sip:0612345678@c4router.example",
        "to_tag": "<null>",
    }
    body.update(fields)
    return orjson.dumps(body)


def route(tbl: Table, *, now: datetime = NOW, seed: int = 1, **fields: object) -> Decision:
    return decide(parse_query(query_bytes(**fields)), tbl, now, random.Random(seed))


def gateway_names(decision: Decision) -> list[str]:
    return [r.target.rsplit("/", 1)[1] for r in decision.routes]
