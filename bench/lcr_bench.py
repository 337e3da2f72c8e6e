"""What a least-cost rule costs per call, in the engine alone (no server, no database).

    .venv/bin/python bench/lcr_bench.py [--number 20000] [--prefixes 10000]

One table, one outbound query (a PBX's call to a French mobile), three carriers of one
gateway each, each carrier with a buy deck of `--prefixes` prefixes (lengths 2 to 7) and
the tenant a sell deck of as many. Each line: the CPU time of one decide() plus
answer_bytes() in microseconds (process CPU time, best of 3 interleaved runs: on a shared
machine, wall time mostly measures the neighbours), for the same three targets:

- priority: the rule in priority mode (the decks are there, unread): the reference;
- lcr: the carriers priced and ordered by rate, margin-checked against the sell deck;
- lcr_band: the same, grouped in a 5% band;
- lcr_policy: lcr, the tenant without a sell deck but with a pricing policy (cost + 20%):
  each carrier's customer rate computed from its cost.

Each mode three times: the same call repeated (from the second call on, the outcome
remembered: what the calls to one destination share); priced at each call, the rule's plan
kept (its outcomes forgotten before each call, outside the timing: a destination's first
call); and with the memo emptied before each call (a rule's first call after any change:
its plan and its points read, then the call priced).

The first lines give each mode's answer and its size in bytes (3 routes).

Prints figures; it is a benchmark, not a test (nothing is asserted).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402

from routing.engine.decide import decide  # noqa: E402
from routing.engine.query import parse_query  # noqa: E402
from routing.engine.rates import DeckRow, RateRow  # noqa: E402
from routing.engine.rtjson import answer_bytes  # noqa: E402
from routing.engine.table import (  # noqa: E402
    CarrierRow,
    GatewayRow,
    PbxRow,
    RuleRow,
    SourceRow,
    TableRows,
    TargetRow,
    TenantRow,
    build_table,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
START = datetime(2026, 1, 1, tzinfo=UTC)
QUERY = parse_query(
    orjson.dumps(
        {
            "event": "sip-routing", "source_ip": "10.10.0.10", "source_port": 5060,
            "call_id": "b@x", "from_name": "", "from_uri": "sip:33123456789@10.10.0.10",
            "to_name": "", "to_uri": "sip:33612345678@x",
        }
    )
)  # fmt: skip


def deck(deck_id: int, prefixes: int, base: str, **owner: int) -> DeckRow:
    rng = random.Random(deck_id)
    # The prefixes the bench's call matches bill like a real deck: a connect fee, 30/6 s
    # increments (the answer carries them for the call records).
    fee, terms = Decimal("0.01"), (30, 6)
    rates = {p: RateRow(p, Decimal(base), START, None, fee, *terms) for p in ("33", "336")}
    while len(rates) < prefixes:
        prefix = str(rng.randrange(10, 10**7))[: rng.randint(2, 7)]
        rates.setdefault(prefix, RateRow(prefix, Decimal(rng.randint(1, 900)) / 10000, START))
    return DeckRow(deck_id, f"deck {deck_id}", "USD", rates=tuple(rates.values()), **owner)


def table(mode: str, prefixes: int):  # type: ignore[no-untyped-def]
    targets = tuple(TargetRow(order=i, carrier_id=i + 1) for i in range(3))
    band = Decimal(5) if mode == "lcr_band" else None
    policy = mode == "lcr_policy"
    tenant = TenantRow(1, "Acme", pricing="percent", markup=Decimal(20)) if policy else None
    sell = () if policy else (deck(9, prefixes, "0.0200", tenant_id=1),)
    mode = "lcr" if policy else mode
    return build_table(
        TableRows(
            tenants=(tenant or TenantRow(1, "Acme"),),
            pbxs=(PbxRow(1, 1, "hq", "10.10.0.10"),),
            carriers=tuple(CarrierRow(i, f"C{i}") for i in (1, 2, 3)),
            gateways=tuple(GatewayRow(i, i, f"g{i}", f"192.0.2.{i}") for i in (1, 2, 3)),
            sources=(SourceRow("10.10.0.0/24", pbx_id=1),),
            rules=(RuleRow(1, "33", targets, name="France", mode=mode, band_percent=band),),
            rate_decks=(
                deck(1, prefixes, "0.0120", carrier_id=1),
                deck(2, prefixes, "0.0100", carrier_id=2),
                deck(3, prefixes, "0.0104", carrier_id=3),
                *sell,
            ),
        )
    )


REPEATED, PRICED, FIRST = "repeated", "priced", "first"


def forget_outcomes(memo: dict) -> None:  # type: ignore[type-arg]
    """The memo's outcomes gone, the rules' plans kept (routing.engine.decide._Plan: keyed
    by (rule id, tenant id); their points' outcomes set back to "not priced")."""
    for key in [key for key in memo if len(key) > 2]:
        del memo[key]
    for plan in memo.values():
        if getattr(plan, "points", None):  # (the memo's ("points",) key holds a count)
            plan.points = dict.fromkeys(plan.points)


def cpu_us(tbl, number: int, how: str = REPEATED) -> float:  # type: ignore[no-untyped-def]
    """Per call: REPEATED, the same call again (the outcome remembered); PRICED, the
    outcomes forgotten before each call (outside the timing), the plan kept; FIRST, the
    memo emptied before each call (plan, points and pricing: a rule's first call after a
    change). routing.engine.decide._least_cost."""
    rng = random.Random(1)
    memo = tbl.lcr_memo
    total = 0.0
    for _ in range(number):
        if how == PRICED:
            forget_outcomes(memo)
        elif how == FIRST:
            memo.clear()
        started = time.process_time()
        answer_bytes(decide(QUERY, tbl, NOW, rng))
        total += time.process_time() - started
    return total / number * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--number", type=int, default=20_000)
    parser.add_argument("--prefixes", type=int, default=10_000)
    args = parser.parse_args()
    modes = ("priority", "lcr", "lcr_band", "lcr_policy")
    tables = {mode: table(mode, args.prefixes) for mode in modes}
    for mode, tbl in tables.items():  # the answers are what the bench says they are
        decision = decide(QUERY, tbl, NOW, random.Random(1))
        size = len(answer_bytes(decision))
        print(f"{mode}: {decision.code}, routes {[r.target for r in decision.routes]}, {size} B")
    hows = (REPEATED, PRICED, FIRST)
    best = {(mode, how): float("inf") for mode in tables for how in hows}
    for _ in range(3):
        for mode, tbl in tables.items():
            for how in hows:
                best[mode, how] = min(best[mode, how], cpu_us(tbl, args.number, how))
    print(
        f"decks: 3 carriers + 1 tenant, {args.prefixes} prefixes each; {args.number} calls; "
        "us per call (decide + answer), and over priority's repeated call"
    )
    reference = best["priority", REPEATED]
    for mode in tables:
        cells = [
            f"{label} {best[mode, how]:7.2f} (+{best[mode, how] - reference:.2f})"
            for how, label in (
                (REPEATED, "repeated"),
                (PRICED, "a destination's first call"),
                (FIRST, "a rule's first call after a change"),
            )
        ]
        print(f"{mode:10} " + "; ".join(cells))


if __name__ == "__main__":
    main()
