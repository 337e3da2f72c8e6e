"""The lists section's data and in-process figures: number lists of a million entries.

    python -m bench.lists_bench prepare --src c4router_bench --db c4router_bench_lists \
        --pool POOL [--entries 1000000]

Copies the 100k bench database (CREATE DATABASE ... TEMPLATE: the same routing data, so the
two servers of the section differ by the lists only), creates two global block lists, one
on the called number and one on the caller's, and imports their entries through the CSV
pipeline an operator uses (routing.imports.import_list_entries: every line validated,
COPY, a history record per entry, one version bump), timed. Then, in this process:
- the entries' read and compile (routing.loader._read_list_entries, as a worker does),
  timed; then again under tracemalloc, for the memory it keeps and its peak, and the
  arrays' own bytes, per entry;
- decide() over the bench query pool with the lists and with the same table without them:
  the cost of the lookups per call, without a server.
Prints one JSON line (RESULT {...}). The entries are random E.164-like numbers (90% exact,
9% prefixes of 7-9 digits, 1% ranges of 100 numbers): a few of the pool's calls are
refused, the rest routed as without lists, so both servers answer nearly the same calls.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import random
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.dataset import check_db_name, server_url
from bench.queries import read_pool

CALLED_SHARE = 0.8  # of the entries: the called-number list; the rest the caller list


def copy_database(src: str, db: str) -> None:
    import psycopg

    check_db_name(src)
    check_db_name(db)
    with psycopg.connect(server_url("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{db}" TEMPLATE "{src}"')


def entry_lines(rng: random.Random, name: str, count: int) -> Any:
    """`count` distinct entries of one list, as CSV lines."""
    seen: set[tuple[str, int]] = set()
    while len(seen) < count:
        kind = rng.random()
        if kind < 0.90:
            item = ("exact", rng.randrange(10**10, 10**12))
        elif kind < 0.99:
            length = rng.choice((7, 8, 9))
            item = ("prefix", rng.randrange(10 ** (length - 1), 10**length))
        else:
            item = ("range", rng.randrange(10**8, 10**9) * 100)
        if item in seen:
            continue
        seen.add(item)
        match, number = item
        if match == "range":
            yield f"{name},{number},range,{number + 99},block of 100\n"
        else:
            yield f"{name},{number},{match},,\n"


def prepare(src: str, db: str, pool_path: str, entries: int) -> dict[str, Any]:
    copy_database(src, db)
    from bench.dataset import _setup_django

    _setup_django(db)
    from routing import imports
    from routing.engine.decide import decide
    from routing.engine.lists import check
    from routing.engine.query import parse_query
    from routing.loader import _read_list_entries, build_from_database
    from routing.models import NumberList

    called = NumberList.objects.create(name="bench called", side="called")
    caller = NumberList.objects.create(name="bench caller", side="caller")
    rng = random.Random(17)
    n_called = int(entries * CALLED_SHARE)
    with tempfile.TemporaryFile("w+", encoding="utf-8", newline="") as csv_file:
        csv_file.write("list,number,match,range_end,comment\n")
        csv_file.writelines(entry_lines(rng, called.name, n_called))
        csv_file.writelines(entry_lines(rng, caller.name, entries - n_called))
        csv_file.seek(0)
        started = time.perf_counter()
        result = imports.import_list_entries(csv_file, change_reason="bench")
        import_s = time.perf_counter() - started
    print(f"imported {result.created:,} entries in {import_s:.1f}s", flush=True)

    ids = [called.pk, caller.pk]
    gc.collect()
    started = time.perf_counter()
    compiled = _read_list_entries("default", ids)
    read_s = time.perf_counter() - started
    del compiled
    gc.collect()
    tracemalloc.start()  # a second read, for its memory (tracemalloc slows it down)
    compiled = _read_list_entries("default", ids)
    kept, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    count = sum(item.count for item in compiled.values())
    array_bytes = sum(item.nbytes() for item in compiled.values())
    del compiled

    with_lists = build_from_database()
    without = dataclasses.replace(
        with_lists, lists_global=(), lists_by_tenant={}, lists_by_carrier={}
    )
    queries = [parse_query(body) for body in read_pool(Path(pool_path))]
    now = datetime.now(UTC)
    per_call: dict[str, float] = {}
    refused: dict[str, int] = {}
    for label, table in (("without", without), ("with", with_lists)) * 3:
        rng_decide = random.Random(1)
        started = time.perf_counter()
        decisions = [decide(query, table, now, rng_decide) for query in queries]
        us = (time.perf_counter() - started) / len(queries) * 1e6
        per_call[label] = min(per_call.get(label, us), us)
        refused[label] = sum(1 for d in decisions if d.listed is not None)
    # The lookups alone, on the numbers the pool's calls have after normalization: what the
    # lists add to a call, without the rest of the decision's noise.
    pairs = [
        (d.callee, d.caller)
        for d in (decide(query, without, now, random.Random(1)) for query in queries)
        if d.direction
    ]
    checks = with_lists.lists_global
    lookup_us = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for callee, caller in pairs:
            check(checks, callee, caller)
        lookup_us = min(lookup_us, (time.perf_counter() - started) / len(pairs) * 1e6)
    started = time.perf_counter()
    for callee, _ in pairs:
        int(callee or "0")
    int_us = (time.perf_counter() - started) / len(pairs) * 1e6
    return {
        "lookup_us": lookup_us,
        "int_us": int_us,
        "db": db,
        "entries": result.created,
        "import_s": import_s,
        "read_s": read_s,
        "count": count,
        "kept_bytes_per_entry": kept / count,
        "peak_bytes_per_entry": peak / count,
        "array_bytes_per_entry": array_bytes / count,
        "decide_us": per_call,
        "refused_by_lists": refused["with"],
        "queries": len(queries),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.lists_bench")
    sub = parser.add_subparsers(dest="command", required=True)
    p_prepare = sub.add_parser("prepare")
    p_prepare.add_argument("--src", required=True)
    p_prepare.add_argument("--db", required=True)
    p_prepare.add_argument("--pool", required=True)
    p_prepare.add_argument("--entries", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    result = prepare(args.src, args.db, args.pool, args.entries)
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    sys.exit(main())
