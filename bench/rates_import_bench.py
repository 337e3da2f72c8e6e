"""Rate deck imports at carrier scale: time and peak memory of a preview and an apply.

    python -m bench.rates_import_bench [--lines 1000000] [--reference 100000]
                                       [--db c4router_bench_rates]

1. A database of its own (BENCH_DB_PREFIX + "_rates", rebuilt, migrated), one carrier with a
   deck.
2. A deck CSV of N distinct prefixes (6-10 digits, a third written with '+', rates with 4-6
   decimals, a connect fee and 60/60 on some lines), imported into the empty deck by the
   operator's path (routing.imports_rates: every line checked, COPY into a temporary table,
   compared and applied in SQL), timed.
3. The next version of the deck: 1% of the prefixes increased, 1% decreased, 1% removed,
   1% new, the rest unchanged; previewed (nothing written), then applied a day ahead, each
   timed.
4. Memory: the peak RSS of the process during each step (VmHWM, reset before it through
   /proc/self/clear_refs) above its RSS when the step starts. The same three steps on a deck
   of --reference lines, in the same run, are the reference: flat memory means the
   million-line peaks stay near the reference's, not ten times them.
Prints the figures, then one JSON line (RESULT {...}).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.dataset import DB_PREFIX, _setup_django, create_database


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _reset_peak() -> None:
    # Linux: "5" resets the peak RSS (VmHWM) to the current RSS.
    Path("/proc/self/clear_refs").write_text("5")


def _prefixes(count: int, rng: random.Random) -> list[int]:
    """`count` distinct prefixes as integers (6-10 digits), sorted."""
    chosen: set[int] = set()
    while len(chosen) < count:
        length = rng.choice((6, 7, 8, 8, 9, 10))
        chosen.add(rng.randrange(10 ** (length - 1), 10**length))
    return sorted(chosen)


def write_deck(path: Path, rows: list[tuple[int, int]], rng: random.Random) -> None:
    """rows: (prefix, rate in millionths). The header, then a line per prefix."""
    with path.open("w") as out:
        out.write("prefix,rate,connect_fee,initial_increment,next_increment,description\n")
        lines = []
        for prefix, micro in rows:
            plus = "+" if prefix % 3 == 0 else ""
            rate = f"{micro // 1_000_000}.{micro % 1_000_000:06d}"
            if prefix % 10 == 0:
                lines.append(f"{plus}{prefix},{rate},0.01,60,60,Mobile {prefix % 997}\n")
            else:
                lines.append(f"{plus}{prefix},{rate},,,,Zone {prefix % 997}\n")
            if len(lines) >= 100_000:
                out.writelines(lines)
                lines = []
        out.writelines(lines)


def next_version(rows: list[tuple[int, int]], rng: random.Random) -> tuple[list, dict[str, int]]:
    """1% up, 1% down, 1% removed, 1% new (prefixes not in the deck), the rest as they are."""
    taken = {prefix for prefix, _ in rows}
    counts = {"increased": 0, "decreased": 0, "removed": 0, "new": 0}
    out: list[tuple[int, int]] = []
    for prefix, micro in rows:
        roll = rng.random()
        if roll < 0.01:
            out.append((prefix, micro + 1000))
            counts["increased"] += 1
        elif roll < 0.02 and micro > 2000:
            out.append((prefix, micro - 1000))
            counts["decreased"] += 1
        elif roll < 0.03:
            counts["removed"] += 1
        else:
            out.append((prefix, micro))
    while counts["new"] < len(rows) // 100:
        prefix = rng.randrange(10**10, 10**11)  # 11 digits: never one of the deck's
        if prefix not in taken:
            taken.add(prefix)
            out.append((prefix, rng.randrange(1000, 500_000)))
            counts["new"] += 1
    out.sort()
    return out, counts


def write_files(lines: int, seed: int, first: Path, second: Path) -> dict[str, int]:
    rng = random.Random(seed)
    rows = [(p, rng.randrange(1000, 500_000)) for p in _prefixes(lines, rng)]
    write_deck(first, rows, rng)
    changed, expected = next_version(rows, rng)
    write_deck(second, changed, rng)
    return expected


def measure(step: Any) -> tuple[Any, float, int, int]:
    """(result, seconds, peak RSS growth in kB, peak RSS in kB) of step()."""
    start_rss = _status("VmRSS")
    _reset_peak()
    started = time.perf_counter()
    value = step()
    peak = _status("VmHWM")
    return value, time.perf_counter() - started, peak - start_rss, peak


def run(lines: int, deck_name: str, rng: random.Random, work: Path) -> dict[str, Any]:
    from routing.imports_rates import import_rates
    from routing.models import Carrier, RateDeck

    carrier = Carrier.objects.create(name=f"Vendor {deck_name}")
    deck = RateDeck.objects.create(name=deck_name, carrier=carrier, currency="USD")
    first, second = work / f"{deck_name}-1.csv", work / f"{deck_name}-2.csv"
    # The files are written by a child process: the lists of a million prefixes never live
    # in this one, whose peak memory is what is measured.
    with multiprocessing.get_context("fork").Pool(1) as pool:
        expected = pool.apply(write_files, (lines, rng.randrange(2**32), first, second))
    figures: dict[str, Any] = {"lines": lines, "file_mb": first.stat().st_size / 1e6}

    def importing(path: Path, **kwargs: Any) -> Any:
        with path.open(encoding="utf-8", newline="") as file:
            return import_rates(deck, file, filename=path.name, **kwargs)

    result, seconds, peak, total = measure(lambda: importing(first))
    assert result.counts["new"] == lines, result.summary
    figures["initial"] = {"s": seconds, "peak_rss_mb": peak / 1024, "peak_total_mb": total / 1024}
    result, seconds, peak, total = measure(lambda: importing(second, preview=True))
    for kind, count in expected.items():
        assert result.counts[kind] == count, (kind, result.summary, expected)
    figures["preview"] = {
        "s": seconds, "peak_rss_mb": peak / 1024, "peak_total_mb": total / 1024,
        "counts": result.counts,
    }  # fmt: skip
    when = datetime.now(UTC) + timedelta(days=1)
    result, seconds, peak, total = measure(lambda: importing(second, effective_from=when))
    figures["apply"] = {
        "s": seconds, "peak_rss_mb": peak / 1024, "peak_total_mb": total / 1024,
        "created": result.created, "ended": result.ended,
    }  # fmt: skip
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--reference", type=int, default=100_000)
    parser.add_argument("--db", default=f"{DB_PREFIX}_rates")
    args = parser.parse_args(argv)
    create_database(args.db, rebuild=True)
    _setup_django(args.db)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    rng = random.Random(16)
    result: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(),
        "load_average": os.getloadavg(),
    }
    with tempfile.TemporaryDirectory() as work:
        for label, lines in (("reference", args.reference), ("deck", args.lines)):
            figures = run(lines, f"bench {label}", rng, Path(work))
            result[label] = figures
            print(f"{lines:,} lines ({figures['file_mb']:.0f} MB):", flush=True)
            for step in ("initial", "preview", "apply"):
                item = figures[step]
                print(
                    f"  {step:8} {item['s']:6.1f} s, peak RSS +{item['peak_rss_mb']:.1f} MB "
                    f"(process peak {item['peak_total_mb']:.0f} MB)",
                    flush=True,
                )
    result["load_average_end"] = os.getloadavg()
    print(f"load average {result['load_average']} -> {result['load_average_end']}")
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
