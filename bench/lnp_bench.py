"""Portability (LNP) at national size: import time per million, memory per number, and what
the lookup adds to a call (the same decide() without LNP measured in the same run).

    python -m bench.lnp_bench [--numbers 10000000] [--db c4router_bench_lnp]

1. A database of its own (BENCH_DB_PREFIX + "_lnp", rebuilt, migrated).
2. A CSV of N distinct North American numbers (increasing, random gaps) with LRNs from a
   pool of 1,000, imported by the operator's path (routing.imports_lnp: every line
   validated, COPY into a staging table, INSERT), timed; then a delta of N/100 rows (half
   new LRNs, half removals), timed.
3. The worker's read and compile (routing.loader._read_ported), timed, with the arrays'
   bytes per number and the process's RSS growth per number.
4. decide() over 2,000 queries (half to ported numbers) against one table with an LNP rule
   for "1" and the same table without it, rounds alternated: microseconds per call each,
   and the ratio (the reference is the run without LNP, same process, same numbers).
Prints one JSON line (RESULT {...}). No server: req/s through gunicorn is measured by
bench/run's "lnp" section, whose data this module prepares:

    python -m bench.lnp_bench prepare --src c4router_bench --db c4router_bench_lnp \
        --pool POOL [--numbers 10000000]

copies the 100k bench database (the same routing data: the section's two servers differ by
portability only), adds a global LNP rule for every number (each outbound call looks its
called number up: the worst case) and imports N ported numbers through the operator's
path, a quarter of the pool's routed called numbers among them (their LRN another routed
number of the pool, so they still route); then in this process the worker's read and
compile, and decide() over the pool with and without the rule (RESULT {...}).
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.dataset import DB_PREFIX, _setup_django, create_database


def _rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def write_csv(path: Path, count: int, rng: random.Random) -> list[str]:
    """`count` distinct numbers; returns a sample of 1,000 of them (for the queries)."""
    lrns = [f"1{rng.randrange(200, 999)}{rng.randrange(200, 999)}0000" for _ in range(1000)]
    gap = max(2, 7_000_000_000 // count)
    sample: list[str] = []
    every = max(1, count // 1000)
    with path.open("w") as out:
        out.write("number,lrn\n")
        base = 12_000_000_000
        lines = []
        for i in range(count):
            number = base + i * gap + rng.randrange(gap)
            lines.append(f"{number},{lrns[i % 1000]}\n")
            if i % every == 0 and len(sample) < 1000:
                sample.append(str(number))
            if len(lines) >= 100_000:
                out.writelines(lines)
                lines = []
        out.writelines(lines)
    return sample


def write_delta(path: Path, sample: list[str], count: int, rng: random.Random) -> None:
    """count rows: half new LRNs for existing numbers, half removals (empty lrn): drawn from
    the numbers' range by the same generator is not possible without the list, so the
    delta changes and removes numbers just above the sample's (new ones) and the sample."""
    with path.open("w") as out:
        out.write("number,lrn\n")
        for i in range(count):
            if i < len(sample) // 2:
                out.write(f"{sample[i]},19995550000\n")  # changed
            elif i < len(sample):
                out.write(f"{sample[i]},\n")  # removed
            else:
                out.write(f"{19_000_000_000 + i},19995550000\n")  # new


def prepare(src: str, db: str, pool_path: str, count: int) -> dict[str, Any]:
    from bench.lists_bench import copy_database
    from bench.queries import read_pool

    copy_database(src, db)
    _setup_django(db)
    from routing.engine.decide import decide
    from routing.engine.query import parse_query
    from routing.imports_lnp import import_ported_numbers
    from routing.loader import _read_ported, build_from_database
    from routing.models import LnpRule

    queries = [parse_query(body) for body in read_pool(Path(pool_path))]
    now = datetime.now(UTC)
    plain = build_from_database()
    routed = sorted(
        {
            d.callee
            for d in (decide(q, plain, now, random.Random(1)) for q in queries)
            if d.routed and d.direction == "outbound" and d.callee
        }
    )
    rng = random.Random(17)
    chosen = set(rng.sample(routed, len(routed) // 4))
    ported = {number: rng.choice(routed) for number in sorted(chosen)}
    ported = {number: lrn for number, lrn in ported.items() if lrn != number}
    result: dict[str, Any] = {"db": db, "numbers": count, "pool_ported": len(ported)}
    with tempfile.TemporaryFile("w+", encoding="utf-8", newline="") as file:
        file.write("number,lrn\n")
        file.writelines(f"{number},{lrn}\n" for number, lrn in ported.items())
        lrns = [f"1{rng.randrange(200, 999)}{rng.randrange(200, 999)}0000" for _ in range(1000)]
        gap = max(2, 7_000_000_000 // count)
        written = len(ported)
        lines = []
        i = 0
        while written < count:
            number = 12_000_000_000 + i * gap + rng.randrange(gap)
            i += 1
            if str(number) in ported:
                continue
            lines.append(f"{number},{lrns[i % 1000]}\n")
            written += 1
            if len(lines) >= 100_000:
                file.writelines(lines)
                lines = []
        file.writelines(lines)
        file.seek(0)
        started = time.perf_counter()
        imported = import_ported_numbers(file, filename="bench")
        result["import_s"] = time.perf_counter() - started
    assert imported.new == count, imported
    result["import_s_per_million"] = result["import_s"] / (count / 1e6)
    print(f"full import of {count:,} numbers: {result['import_s']:.1f} s", flush=True)
    LnpRule.objects.create(prefix="", description="bench: every number is looked up")

    gc.collect()
    before = _rss_kb()
    started = time.perf_counter()
    compiled = _read_ported("default")
    result["read_s"] = time.perf_counter() - started
    gc.collect()
    result["rss_bytes_per_number"] = (_rss_kb() - before) * 1024 / compiled.count
    result["array_bytes_per_number"] = compiled.nbytes() / compiled.count
    del compiled
    with_lnp = build_from_database()
    result["loaded"] = with_lnp.ported.count
    without = dataclasses.replace(with_lnp, lnp_rules={})
    per_call: dict[str, float] = {}
    ported_calls = 0
    for label, table in (("off", without), ("on", with_lnp)) * 5:
        rng_decide = random.Random(1)
        started = time.perf_counter()
        decisions = [decide(query, table, now, rng_decide) for query in queries]
        us = (time.perf_counter() - started) / len(queries) * 1e6
        per_call[label] = min(per_call.get(label, us), us)
        if label == "on":
            ported_calls = sum(1 for d in decisions if d.ported is not None)
    result["decide_us"] = per_call
    result["ported_calls"] = ported_calls
    result["queries"] = len(queries)
    print(
        f"worker read and compile: {result['read_s']:.1f} s; arrays "
        f"{result['array_bytes_per_number']:.1f} B/number; decide() {per_call['off']:.1f} us "
        f"off, {per_call['on']:.1f} on ({ported_calls} of {len(queries)} calls ported)",
        flush=True,
    )
    return result


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["prepare"]:
        sub = argparse.ArgumentParser(prog="python -m bench.lnp_bench prepare")
        sub.add_argument("--src", required=True)
        sub.add_argument("--db", required=True)
        sub.add_argument("--pool", required=True)
        sub.add_argument("--numbers", type=int, default=10_000_000)
        options = sub.parse_args(argv[1:])
        prepared = prepare(options.src, options.db, options.pool, options.numbers)
        print("RESULT " + json.dumps(prepared), flush=True)
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--numbers", type=int, default=10_000_000)
    parser.add_argument("--db", default=f"{DB_PREFIX}_lnp")
    args = parser.parse_args(argv)
    rng = random.Random(17)
    create_database(args.db, rebuild=True)
    _setup_django(args.db)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from routing.imports_lnp import import_ported_numbers

    result: dict[str, Any] = {"numbers": args.numbers, "started": datetime.now(UTC).isoformat()}
    with tempfile.TemporaryDirectory() as work:
        path = Path(work) / "ported.csv"
        sample = write_csv(path, args.numbers, rng)
        started = time.perf_counter()
        with path.open() as file:
            imported = import_ported_numbers(file, filename="bench")
        elapsed = time.perf_counter() - started
        assert imported.new == args.numbers, imported
        result["import_s"] = elapsed
        result["import_s_per_million"] = elapsed / (args.numbers / 1e6)
        print(f"full import of {args.numbers:,} numbers: {elapsed:.1f} s", flush=True)
        delta = Path(work) / "delta.csv"
        delta_rows = max(len(sample), args.numbers // 100)
        write_delta(delta, sample, delta_rows, rng)
        started = time.perf_counter()
        with delta.open() as file:
            applied = import_ported_numbers(file, delta=True, filename="bench delta")
        result["delta_rows"] = delta_rows
        result["delta_s"] = time.perf_counter() - started
        result["delta"] = applied.as_dict()
        print(f"delta of {delta_rows:,} rows: {result['delta_s']:.1f} s ({applied.summary})")

    from routing.loader import _read_ported

    gc.collect()
    before = _rss_kb()
    started = time.perf_counter()
    ported = _read_ported("default")
    result["read_s"] = time.perf_counter() - started
    gc.collect()
    result["rss_bytes_per_number"] = (_rss_kb() - before) * 1024 / ported.count
    result["array_bytes_per_number"] = ported.nbytes() / ported.count
    result["loaded"] = ported.count
    print(
        f"worker read and compile: {result['read_s']:.1f} s; arrays "
        f"{result['array_bytes_per_number']:.1f} B/number, RSS growth "
        f"{result['rss_bytes_per_number']:.1f} B/number",
        flush=True,
    )
    result["decide_us"] = measure_decide(ported, sample)
    print(
        f"decide(): {result['decide_us']['off']:.1f} us/call without LNP, "
        f"{result['decide_us']['on']:.1f} with (ratio of calls/s "
        f"{result['decide_us']['ratio']:.1%}); lookup alone {result['decide_us']['find']:.2f} us"
    )
    print("RESULT " + json.dumps(result))


def measure_decide(ported: Any, sample: list[str], rounds: int = 11) -> dict[str, float]:
    import dataclasses

    import orjson

    from routing.engine.decide import decide
    from routing.engine.lnp import LnpRuleRow
    from routing.engine.query import parse_query
    from routing.engine.table import (
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

    rows = TableRows(
        tenants=(TenantRow(1, "Acme"),),
        pbxs=(PbxRow(1, 1, "hq", "10.10.0.10"),),
        carriers=(CarrierRow(1, "Alpha"), CarrierRow(2, "Beta", send_rn=True)),
        gateways=(GatewayRow(1, 1, "a1", "203.0.113.10"), GatewayRow(2, 2, "b1", "192.0.2.20")),
        sources=(SourceRow("10.10.0.0/24", pbx_id=1),),
        rules=tuple(
            RuleRow(id=i + 1, prefix=str(p), targets=(TargetRow(order=0, gateway_id=1 + i % 2),))
            for i, p in enumerate(range(1200, 2000))
        ),
        ported=ported,
    )
    off = build_table(rows)
    on = build_table(dataclasses.replace(rows, lnp_rules=(LnpRuleRow(1, "1"),)))
    rng = random.Random(4)
    callees = [*sample[:1000]]
    callees += [str(int(n) + 1) for n in sample[:1000]]  # mostly not ported
    queries = [
        parse_query(
            orjson.dumps(
                {
                    "source_ip": "10.10.0.10",
                    "call_id": f"c{i}",
                    "from_uri": "sip:12125550100@x",
                    "to_uri": f"sip:{callee}@x",
                }
            )
        )
        for i, callee in enumerate(callees)
    ]
    now = datetime.now(UTC)
    # The delta removed half of the sample: about a quarter of the queries are ported.
    ported_calls = sum(1 for q in queries if decide(q, on, now, rng).ported is not None)
    assert ported_calls >= len(sample) // 2 - 10, ported_calls
    times: dict[str, list[float]] = {"off": [], "on": []}
    for _ in range(rounds):
        for name, table in (("off", off), ("on", on)):
            started = time.perf_counter()
            for query in queries:
                decide(query, table, now, rng)
            times[name].append((time.perf_counter() - started) / len(queries) * 1e6)
    passes = []
    for _ in range(rounds):  # the best pass: a shared machine's other work is noise here
        started = time.perf_counter()
        for callee in callees:
            ported.find(callee, now)
        passes.append((time.perf_counter() - started) / len(callees) * 1e6)
    find_us = min(passes)
    off_us, on_us = statistics.median(times["off"]), statistics.median(times["on"])
    return {"off": off_us, "on": on_us, "ratio": off_us / on_us, "find": find_us,
            "ported_calls": ported_calls, "calls": len(queries)}  # fmt: skip


if __name__ == "__main__":
    main()
