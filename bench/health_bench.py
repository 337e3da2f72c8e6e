"""bench/run's health section: what carrier health costs, and what it buys.

    .venv/bin/python -m bench.health_bench engine [--number 20000]
    .venv/bin/python -m bench.health_bench patch --db c4router_bench

engine: CPU per routing decision (routing.engine.decide, the answer's whole decision), on
the same rule and table, with no health data (the reference, same run), with 100 other
gateways down (what every answer pays: one dict probe per gateway it lists), with the first
gateway down (skipped), and demoted with probability 0.5. CPU time of this process
(time.process_time), best of 7 rounds: wall time on a shared machine measures the
neighbours.

patch: on the 100k-prefix bench database, the time a worker takes to apply one gateway's
state change (the health version: its health rows read again and swapped into the same
table), next to what the same change would cost through the routing version (the small
tables read again and the table patched: the reference, same run) and a whole build. The
bench data has no health policy: the state changes the table's health rows, not the
bench's answers.

The post-dial delay figures (a dead first gateway: its timer, then near zero once marked
down; a frozen API URL: its timeout, then none once the breaker is open) come from the
end-to-end test tests/e2e/test_carrier_health.py, which run() runs and reads.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import re
import subprocess
import sys
import time
import timeit
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def engine(number: int) -> dict[str, float]:
    sys.path.insert(0, str(ROOT))
    from routing.engine.decide import decide
    from routing.engine.query import parse_query
    from routing.engine.table import (
        CarrierRow,
        GatewayRow,
        HealthRow,
        PbxRow,
        RuleRow,
        SourceRow,
        TableRows,
        TargetRow,
        TenantRow,
        build_table,
    )

    carriers = tuple(CarrierRow(i, f"carrier-{i}") for i in range(1, 101))
    gateways = tuple(
        GatewayRow(i, (i - 1) // 10 + 1, f"gw-{i}", f"192.0.2.{i % 250 + 1}", port=5060 + i)
        for i in range(1, 1001)
    )
    targets = (TargetRow(0, gateway_id=1), TargetRow(1, gateway_id=11), TargetRow(2, gateway_id=21))
    rows = TableRows(
        tenants=(TenantRow(1, "Acme"),),
        pbxs=(PbxRow(1, 1, "hq", "10.10.0.10"),),
        carriers=carriers,
        gateways=gateways,
        sources=(SourceRow("10.10.0.0/24", pbx_id=1),),
        rules=(RuleRow(1, "33", targets),),
    )
    since = datetime(2026, 1, 1, tzinfo=UTC)
    elsewhere = tuple(HealthRow(i, down_since=since) for i in range(500, 600))
    cases = {
        "reference (no health data)": (),
        "100 other gateways down": elsewhere,
        "first gateway down (skipped)": (*elsewhere, HealthRow(1, down_since=since)),
        "first gateway demoted (p=0.5)": (*elsewhere, HealthRow(1, skip_probability=0.5)),
    }
    query = parse_query(
        json.dumps({
            "source_ip": "10.10.0.10", "call_id": "bench", "from_uri": "sip:0123@10.10.0.10",
            "to_uri": "sip:33612345678@c4router.example",
        }).encode()
    )  # fmt: skip
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    out = {}
    for label, health in cases.items():
        table = build_table(dataclasses.replace(rows, health=health))
        rng = random.Random(1)
        assert decide(query, table, now, rng).routed
        rounds = timeit.repeat(
            lambda table=table, rng=rng: decide(query, table, now, rng),
            number=number, repeat=7, timer=time.process_time,
        )  # fmt: skip
        out[label] = min(rounds) / number * 1e6
    return out


def patch(db: str) -> dict[str, float]:
    sys.path.insert(0, str(ROOT))
    from bench.dataset import _setup_django

    _setup_django(db)
    from django.db import transaction

    from routing.carrier_health import record_state
    from routing.loader import holder
    from routing.models import Changes, Gateway, bump_routing_version

    started = time.perf_counter()
    holder.refresh(force=True)
    build_s = time.perf_counter() - started
    gateway = Gateway.objects.order_by("id").first()
    assert gateway is not None
    times = []
    for state in ("down", "up", "down", "up", "down", "up"):
        record_state(gateway.pk, state, "bench", "bench")
        started = time.perf_counter()
        assert holder.refresh()
        times.append(time.perf_counter() - started)
        assert holder.table is not None
        assert (gateway.pk in holder.table.health) is False  # no policy: state kept out
    patches = []
    for _ in range(6):
        with transaction.atomic():
            bump_routing_version(changed=Changes())  # what a Gateway row's save bumps
        started = time.perf_counter()
        assert holder.refresh()
        patches.append(time.perf_counter() - started)
    times.sort()
    patches.sort()
    return {"build_s": build_s, "health_ms": times[len(times) // 2] * 1000,
            "health_max_ms": times[-1] * 1000,
            "patch_ms": patches[len(patches) // 2] * 1000}  # fmt: skip


# --- bench/run's section ------------------------------------------------------------------------

_PDD = re.compile(
    r"PDD with a dead first gateway: (\d+) ms before it is marked down \(its fr_timer: (\d+) "
    r"ms\), (\d+) ms once it is"
)
_API = re.compile(r"PDD through a frozen first API URL \(timeout (\d+) ms\): (.*)")
_DEMOTION = re.compile(r"Demotion: (.*)")
_DETECTION = re.compile(r"Detection: (.*)")


def run(bench: Any, *, quick: bool) -> dict[str, Any]:
    from bench.dataset import DB_PREFIX, server_url
    from bench.main import say

    out: dict[str, Any] = {}
    number = 5000 if quick else 20000
    say("  per-answer cost of the health check (routing.engine.decide)")
    out["engine_us"] = bench.result_of(
        bench.python("-m", "bench.health_bench", "engine", "--number", str(number), timeout=600)
    )
    say("  a state change applied by a worker (100k-prefix bench database)")
    out["patch"] = bench.result_of(
        bench.python("-m", "bench.health_bench", "patch", "--db", DB_PREFIX, timeout=600)
    )
    say("  post-dial delay: tests/e2e/test_carrier_health.py (Kamailio, SIPp, c4router)")
    env = {**os.environ, "DATABASE_URL": server_url(f"{DB_PREFIX}_health"),
           "C4ROUTER_REQUIRE_E2E": "1"}  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:randomly", "-p", "no:cacheprovider",
         "tests/e2e/test_carrier_health.py"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    text = proc.stdout + proc.stderr
    pdd, api = _PDD.search(text), _API.search(text)
    if proc.returncode != 0 or pdd is None or api is None:
        raise RuntimeError("tests/e2e/test_carrier_health.py failed:\n" + text[-3000:])
    out["pdd"] = {"timer_ms": int(pdd.group(1)), "fr_timer_ms": int(pdd.group(2)),
                  "down_ms": int(pdd.group(3))}  # fmt: skip
    detection = _DETECTION.search(text)
    if detection is not None:
        out["detection"] = detection.group(1)
    demotion = _DEMOTION.search(text)
    if demotion is not None:
        out["demotion"] = demotion.group(1)
    out["api"] = {"timeout_ms": int(api.group(1)),
                  "pdd_ms": [int(x) for x in re.findall(r"(\d+) ms", api.group(2))]}  # fmt: skip
    return out


def summary_lines(result: dict[str, Any]) -> list[str]:
    lines = ["carrier health"]
    engine_us = result.get("engine_us", {})
    reference = engine_us.get("reference (no health data)")
    for label, us in engine_us.items():
        extra = f"  ({us - reference:+.2f} µs)" if reference and us is not reference else ""
        lines.append(f"  decision, {label:<32} {us:7.2f} µs CPU{extra}")
    if "patch" in result:
        p = result["patch"]
        lines.append(
            f"  a gateway's state change applied by a worker: {p['health_ms']:.1f} ms (median "
            f"of 6, max {p['health_max_ms']:.1f} ms); the same through the routing version (a "
            f"small-table patch, reference): {p['patch_ms']:.0f} ms; a whole build "
            f"{p['build_s']:.1f} s"
        )
    if "pdd" in result:
        p = result["pdd"]
        lines.append(
            f"  PDD with a dead first gateway: {p['timer_ms']} ms before it is marked down "
            f"(its fr_timer {p['fr_timer_ms']} ms), {p['down_ms']} ms once it is"
        )
    if "detection" in result:
        lines.append(f"  detection: {result['detection']}")
    if "api" in result:
        a = result["api"]
        lines.append(
            f"  PDD through a frozen first API URL (timeout {a['timeout_ms']} ms, breaker at 2 "
            f"failures): {', '.join(f'{x} ms' for x in a['pdd_ms'])}"
        )
    if "demotion" in result:
        lines.append(
            f"  passive demotion, a gateway refusing about half its calls: {result['demotion']}"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    e = sub.add_parser("engine")
    e.add_argument("--number", type=int, default=20000)
    p = sub.add_parser("patch")
    p.add_argument("--db", required=True)
    args = parser.parse_args()
    result = engine(args.number) if args.what == "engine" else patch(args.db)
    for key, value in result.items():
        print(f"  {key}: {value:.3f}")
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
