"""bench/run's "lcr" section: least-cost routing at carrier scale, through the server.

10 buy decks of 1M prefixes and a sell deck of 1M (11M rates; bench/lcr_scale.py builds
them in a copy of the 100k database and says how), c4router under gunicorn with 2 workers:
- the start: both workers build their table at once (each worker's build time, from its
  log) and the memory of all the server's processes after it: RSS and PSS (a page two
  processes share counts half in each PSS: their sum is what the host pays);
- req/s at c64 of least-cost calls (the LCR tenant's rules: every target carrier's deck and
  the sell deck looked up, margins checked) vs the same called numbers from another tenant
  (its global rules, priority mode), rounds alternated, same server: the median of the
  per-round ratios;
- a rate change under load (wrk c16 on the least-cost pool): one Rate saved through the
  ORM, then probes (a new connection each, so both workers answer) until every answer
  carries the new rate: commit -> every answer new, per change;
- the in-process figures of bench/lcr_scale.py inproc (one process alone).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from bench import procs
from bench.dataset import DB_PREFIX, TOKEN
from bench.procs import CONFIGS, REPO, Server, WrkResult

DB_LCR = f"{DB_PREFIX}_lcr"
DB_SRC = DB_PREFIX
TARGET_BUILD_S = 60.0
TARGET_MEMORY_MB = 1536.0
TARGET_RATIO = 0.90
TARGET_LIVE_S = 1.0


def say(text: str = "") -> None:
    print(text, flush=True)


def _memory(pid: int) -> dict[str, float]:
    """RSS and PSS of a process, in MB (smaps_rollup)."""
    out: dict[str, float] = {}
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            key = line.split(":", 1)[0]
            if key in ("Rss", "Pss"):
                out[key] = int(line.split()[1]) / 1024
    except OSError:
        pass
    return out


def server_memory(server: Any) -> dict[str, Any]:
    pids = procs.group_pids(server.process.pid)
    each = {pid: _memory(pid) for pid in pids}
    return {
        "processes": len(pids),
        "rss_mb": [round(m.get("Rss", 0), 1) for m in each.values()],
        "pss_mb": [round(m.get("Pss", 0), 1) for m in each.values()],
        "total_rss_mb": sum(m.get("Rss", 0) for m in each.values()),
        "total_pss_mb": sum(m.get("Pss", 0) for m in each.values()),
    }


def run(bench: Any, *, quick: bool) -> dict[str, Any]:
    prefixes = 100_000 if quick else 1_000_000
    say(f"  {DB_LCR}: a copy of {DB_SRC} with 10 buy decks of {prefixes:,} prefixes and a "
        f"sell deck of {prefixes:,}")  # fmt: skip
    prepared = bench.result_of(
        bench.python(
            "-m", "bench.lcr_scale", "prepare", "--src", DB_SRC, "--db", DB_LCR,
            "--prefixes", str(prefixes), "--sell", str(prefixes), timeout=3600,
        )
    )  # fmt: skip
    state = "reused" if prepared["reused"] else "generated"
    build = prepared["build"]
    say(
        f"    {state}: {prepared['rates']:,} rates (generated in "
        f"{sum(build.get('decks_s', [0])):.1f}s by PostgreSQL, {build.get('overrides', 0):,} "
        "least-cost rules of the LCR tenant)"
    )
    out: dict[str, Any] = {"prepared": prepared}
    pool_dir = bench.work / "lcr-pools"
    pools = bench.result_of(
        bench.python(
            "-m", "bench.lcr_scale", "pools", "--db", DB_LCR, "--out", str(pool_dir), timeout=300
        )
    )
    bench.pools["lcr"] = Path(pools["lcr"])
    bench.pools["priority"] = Path(pools["priority"])
    out["pools"] = pools
    inproc = bench.result_of(
        bench.python(
            "-m",
            "bench.lcr_scale",
            "inproc",
            "--db",
            DB_LCR,
            "--pools",
            str(pool_dir),
            timeout=1800,
        )
    )
    out["inproc"] = inproc
    say(
        f"    one process alone: table built in {inproc['build_s']:.1f}s ({inproc['rates']:,} "
        f"rates in {inproc['decks']} decks, {inproc['rules']:,} rules), RSS "
        f"{inproc['rss_before_mb']:.0f} -> {inproc['rss_after_mb']:.0f} MB; arrays "
        f"{inproc['array_bytes_per_rate']:.1f} B/rate, RSS growth "
        f"{inproc['rss_bytes_per_rate']:.1f} B/rate, palettes {inproc['palette']:,} terms; "
        f"decide()+answer {inproc['decide_us']['priority']:.1f} us priority, "
        f"{inproc['decide_us']['lcr']:.1f} us lcr; find_rate {inproc['find_rate_us']:.2f} us "
        f"(one int(): {inproc['int_us']:.3f} us); in decide(): {inproc['lookups_per_call']:.1f} "
        f"lookups per call, {inproc['lookup_in_decide_us']:.2f} us median, "
        f"{inproc['lookups_us_per_call']:.1f} us per call; priced (not remembered) per pass "
        f"of new numbers {_shares(inproc['memo_new_share'])}, decide()+answer lcr with nothing "
        f"remembered {inproc['decide_lcr_cold_us']:.1f} us; routed "
        f"{inproc['routed_share']}; with "
        f"the deck cache: build and write {inproc['cache_write_s']:.1f}s, then map "
        f"{inproc['cache_map_s']:.2f}s"
    )
    config = CONFIGS[0]
    # The host's deck cache (routing/deck_cache.py): the two workers compile each deck once
    # and map the same file.
    cache_dir = bench.work / "deck-cache"
    server = Server(
        app="c4router",
        config=config,
        env=bench.env(DB_LCR) | {"C4ROUTER_DECK_CACHE_DIR": str(cache_dir)},
        log_dir=bench.work,
    )
    say(f"  starting c4router ({config.label}) on {DB_LCR}")
    try:
        server.start(timeout=900)
        out["ready_s"] = server.ready_after
        out["worker_builds_s"] = server.build_times()
        out["memory_start"] = server_memory(server)
        mem = out["memory_start"]
        say(
            f"    ready in {server.ready_after:.1f}s; worker table builds "
            f"{', '.join(f'{s:.1f}s' for s in out['worker_builds_s'])}; memory of its "
            f"{mem['processes']} processes: RSS {mem['total_rss_mb']:.0f} MB "
            f"{mem['rss_mb']}, PSS {mem['total_pss_mb']:.0f} MB"
        )
        for name in ("priority", "lcr"):
            bench.wrk(server, name, 64, bench.warmup)
        runs: dict[str, list[WrkResult]] = {"priority": [], "lcr": []}
        for index in range(bench.rounds):
            for name in ("priority", "lcr"):
                result = bench.wrk(server, name, 64, bench.seconds)
                runs[name].append(result)
                say(
                    f"    c64 round {index + 1}/{bench.rounds} {name}: {result.rps:,.0f} req/s "
                    f"p50 {result.p50_ms:.2f} p99 {result.p99_ms:.2f} ms err {result.errors} "
                    f"cpu {result.server_cpu_us:.0f} us/req"
                )
        for name, results in runs.items():
            out[name] = {
                "rps": statistics.median(r.rps for r in results),
                "p99_ms": statistics.median(r.p99_ms for r in results),
                "errors": sum(r.errors for r in results),
                "cpu_us": statistics.median(r.server_cpu_us for r in results),
            }
        out["ratio"] = statistics.median(
            a.rps / b.rps for a, b in zip(runs["lcr"], runs["priority"], strict=True)
        )
        out["memory_load"] = server_memory(server)
        say(
            f"    lcr / priority req/s: {out['ratio']:.1%} (median of per-round ratios); "
            f"memory after the load: RSS {out['memory_load']['total_rss_mb']:.0f} MB, PSS "
            f"{out['memory_load']['total_pss_mb']:.0f} MB"
        )
        before = len(server.table_updates())
        out["changes"] = rate_changes(bench, server, pool_dir, 1 if quick else 3)
        out["worker_updates"] = [
            f"{kind} {seconds:.2f}s" for kind, seconds in server.table_updates()[before:]
        ]
        out["memory_end"] = server_memory(server)
        say(
            f"    table updates in the workers: {', '.join(out['worker_updates'])}; memory "
            f"after them: RSS {out['memory_end']['total_rss_mb']:.0f} MB, PSS "
            f"{out['memory_end']['total_pss_mb']:.0f} MB"
        )
    finally:
        server.stop()
    return out


def rate_changes(bench: Any, server: Any, pool_dir: Path, count: int) -> list[dict[str, Any]]:
    probe = json.loads((pool_dir / "probe.json").read_text())
    body = probe["body"].encode()
    headers = {"Content-Type": "application/json", "X-C4-Token": TOKEN}
    changer = subprocess.Popen(
        [sys.executable, "-m", "bench.lcr_scale", "change", "--db", DB_LCR, "--pools",
         str(pool_dir)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=REPO,
        env=bench.env(DB_LCR) | {"C4ROUTER_MODE": "dev"}, start_new_session=True,
    )  # fmt: skip
    assert changer.stdin is not None and changer.stdout is not None
    wrk = procs.start_wrk(server.url, bench.pools["lcr"], TOKEN, 16, count * 25 + 15)
    results = []
    try:
        ready = json.loads(changer.stdout.readline())
        say(f"    rate changes under wrk c16 (least-cost pool): {count}, prefix "
            f"{ready['prefix']} of carrier #{probe['carrier_id']}'s deck")  # fmt: skip
        for index in range(count):
            time.sleep(1.0)
            changer.stdin.write(b"change\n")
            changer.stdin.flush()
            change = json.loads(changer.stdout.readline())
            answers: list[tuple[float, bool]] = []
            deadline = change["committed"] + 20
            first_ok = None
            while time.monotonic() < deadline:
                try:
                    response = httpx.post(
                        f"{server.url}/kamailio/rtjson", content=body, headers=headers,
                        timeout=2.0,
                    )  # fmt: skip
                    routes = response.json()["rtjson"]["routes"]
                    ok = routes[0]["c4"]["rate"] == change["rate"]
                except (httpx.HTTPError, KeyError, IndexError, ValueError):
                    ok = False
                now = time.monotonic()
                answers.append((now, ok))
                if ok and first_ok is None:
                    first_ok = now
                if first_ok is not None and now - first_ok > 2.0:
                    break
            last_wrong = max((t for t, ok in answers if not ok), default=change["committed"])
            all_new = min((t for t, ok in answers if ok and t > last_wrong), default=None)
            item = {
                "first_s": None if first_ok is None else first_ok - change["committed"],
                "all_s": None if all_new is None else all_new - change["committed"],
                "probes": len(answers),
            }
            results.append(item)
            say(
                f"    change {index + 1}: rate {change['rate']}: first new answer after "
                f"{_ms(item['first_s'])}, every answer new after {_ms(item['all_s'])} "
                f"({len(answers)} probes)"
            )
    finally:
        load = procs.interrupt_wrk(wrk)
        procs.stop(changer)
    say(f"    wrk meanwhile: {load.rps:,.0f} req/s, p99 {load.p99_ms:.1f} ms, errors "
        f"{load.errors}")  # fmt: skip
    for item in results:
        item["wrk_errors"] = load.errors
    return results


def _shares(values: list[float]) -> str:
    return "/".join(f"{value:.0%}" for value in values)


def _ms(value: float | None) -> str:
    return "never (20 s)" if value is None else f"{value * 1000:.0f} ms"


def _points_line(inproc: dict[str, Any]) -> str:
    """The rules' points (routing.engine.decide._Plan) and what they save, in one process."""
    points, ab = inproc.get("points"), inproc.get("points_ab_us")
    if not points or not ab:
        return "  a rule's points: not measured"
    return (
        f"  a rule's points: {points['points']:,} points in {points['with_points']:,} of "
        f"{points['plans']:,} rules' plans ({points['priced']:,} priced); alternated passes of "
        f"new numbers, min of 5: lcr {ab['points']:.1f} us with points, {ab['no_points']:.1f} "
        f"us without, priority {ab['priority']:.1f} us (the least-cost extra "
        f"+{ab['no_points'] - ab['priority']:.1f} -> +{ab['points'] - ab['priority']:.1f} us)"
    )


def summary_lines(result: dict[str, Any]) -> list[str]:
    inproc = result["inproc"]
    lines = [
        f"least-cost routing at scale (gunicorn -w 2): {result['prepared']['rates']:,} rates "
        f"in {inproc['decks']} decks (10 buy, 1 sell), {inproc['rules']:,} rules",
        f"  start: ready in {result['ready_s']:.1f}s; worker builds "
        f"{', '.join(f'{s:.1f}s' for s in result['worker_builds_s'])} (both at once); one "
        f"process alone {inproc['build_s']:.1f}s",
        f"  memory of all server processes: after start RSS "
        f"{result['memory_start']['total_rss_mb']:.0f} MB / PSS "
        f"{result['memory_start']['total_pss_mb']:.0f} MB; after the load "
        f"{result['memory_load']['total_rss_mb']:.0f} / "
        f"{result['memory_load']['total_pss_mb']:.0f} MB; after the rate changes "
        f"{result['memory_end']['total_rss_mb']:.0f} / {result['memory_end']['total_pss_mb']:.0f}"
        f" MB; arrays {inproc['array_bytes_per_rate']:.1f} B/rate",
        f"  req/s c64: lcr {result['lcr']['rps']:,.0f}, priority {result['priority']['rps']:,.0f}"
        f" (median of per-round ratios {result['ratio']:.1%}); p99 "
        f"{result['lcr']['p99_ms']:.2f} / {result['priority']['p99_ms']:.2f} ms; cpu "
        f"{result['lcr']['cpu_us']:.0f} / {result['priority']['cpu_us']:.0f} us/req; errors "
        f"{result['lcr']['errors']} / {result['priority']['errors']}",
        f"  in one process (new numbers each pass): decide()+answer "
        f"{inproc['decide_us']['lcr']:.1f} us lcr, {inproc['decide_us']['priority']:.1f} us "
        f"priority, {inproc['decide_lcr_cold_us']:.1f} us lcr with no outcome remembered; "
        f"least-cost calls priced per pass {_shares(inproc['memo_new_share'])} (the rest "
        f"remembered: the same rates matched); the deck lookups "
        f"{inproc.get('lookups_us_per_call', 0):.1f} us per call "
        f"({inproc.get('lookups_per_call', 0):.1f} per call, "
        f"{inproc.get('lookup_in_decide_us', 0):.2f} us median each; the same one again "
        f"{inproc['find_rate_us']:.2f} us)",
        _points_line(inproc),
        "  rate change -> every answer new: "
        + ", ".join(_ms(c["all_s"]) for c in result["changes"])
        + f"; worker updates: {', '.join(result['worker_updates'])}",
    ]
    return lines


def checks(result: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    size = f"{result['prepared']['rates'] / 1e6:.1f}M rates"
    builds = result["worker_builds_s"] or [float("inf")]
    memory = max(
        result[key]["total_pss_mb"] for key in ("memory_start", "memory_load", "memory_end")
    )
    lives = [c["all_s"] for c in result["changes"]]
    worst = max((x for x in lives if x is not None), default=None)
    return [
        (f"{size}: table build per worker", f"{max(builds):.1f} s", "<= 60 s",
         max(builds) <= TARGET_BUILD_S),
        (f"{size}: memory of all processes (PSS)", f"{memory:.0f} MB", "<= 1.5 GB",
         memory <= TARGET_MEMORY_MB),
        ("lcr req/s vs priority, same run", f"{result['ratio']:.1%}", ">= 90%",
         result["ratio"] >= TARGET_RATIO),
        ("one rate saved -> every answer new", "-" if worst is None else f"{worst * 1000:.0f} ms",
         "<= 1 s", worst is not None and None not in lives and worst <= TARGET_LIVE_S),
    ]  # fmt: skip
