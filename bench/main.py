"""bench/run: c4router's benchmark, with the ceiling measured in the same run.

Sections (bench/README.md says what each measures and how to read it):
  data        build or reuse the bench databases (100k prefixes; 1M for `scale`)
  throughput  POST /kamailio/rtjson under wrk, c4router vs a raw ASGI app, per server setup
  scale       table build time, worker memory and c64 throughput at 100k vs 1M prefixes
  reload      change -> live under load, and the errors while the workers reload
  kamailio    calls/s through a real Kamailio with a 503 failover on every call (SIPp)
  records     the same with call records on vs off, records stored vs placed; ingestion
              rate; dashboard queries over a day of 10M attempts; the PostgreSQL outage run
  admin       routing p99 alone, during API exports and during API imports (same host)
  lists       routing req/s with number lists of 1M entries vs without (two servers, same
              data otherwise, rounds alternated); bytes per entry; import time of 1M entries
  lnp         routing req/s with LNP on (10M ported numbers, every call looked up) vs off
              (two servers, same data otherwise, rounds alternated); bytes per number and
              import time per million
  overload    the maximum calls/s through Kamailio, then 0.5x..3x of it: completed calls
              stay flat, the rest are refused fast (Kamailio's overload bound)
  health      carrier health: its per-answer cost (reference: no health data, same run), a
              state change applied by a worker, and the post-dial delay with a dead first
              gateway / a frozen API URL before and after they are left out (Kamailio, SIPp)
  lcr         least-cost routing at carrier scale: 10 buy decks of 1M prefixes + a sell deck
              of 1M, 2 workers: build time, memory of all processes, least-cost req/s vs
              priority-mode req/s (same run), a rate change -> live (bench/lcr_load.py)
Every load is bounded in time; everything started is stopped at the end, on errors and on
Ctrl-C. Only 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import (
    admin_load,
    cdr_bench,
    health_bench,
    kamailio_load,
    lcr_load,
    overload,
    procs,
)
from bench.dataset import DB_PREFIX, PROBE_PREFIX, TOKEN, server_url
from bench.procs import CONFIGS, REPO, Server, ServerConfig, WrkResult
from bench.queries import build_pool, write_pool

SECTIONS = (
    "data", "throughput", "scale", "reload", "kamailio", "records", "admin", "lists",
    "lnp", "overload", "health", "lcr",
)  # fmt: skip
DB_100K = f"{DB_PREFIX}"
DB_1M = f"{DB_PREFIX}_1m"
DB_LISTS = f"{DB_PREFIX}_lists"
DB_LNP = f"{DB_PREFIX}_lnp"
POOL_SIZE = 8000
RESULTS = REPO / "bench" / "results"

TARGETS = {
    "ratio": 0.40,
    "p99_ms": 10.0,
    "build_s": 10.0,
    "rss_mb": 300.0,
    "lookup_ratio": 0.90,  # "unchanged": within 10% of the 100k figure (run-to-run noise)
    "live_s": 1.0,
    "calls_per_s": 500,
    "dashboard_s": 1.0,
    "lists_ratio": 0.95,
    "lnp_ratio": 0.90,
}


def say(text: str = "") -> None:
    print(text, flush=True)


def fmt_int(value: float) -> str:
    return f"{value:,.0f}"


def median_of(results: list[WrkResult]) -> dict[str, float]:
    """Median req/s and latency over rounds; errors are summed."""
    return {
        "rps": statistics.median(r.rps for r in results),
        "p50_ms": statistics.median(r.p50_ms for r in results),
        "p99_ms": statistics.median(r.p99_ms for r in results),
        "max_p99_ms": max(r.p99_ms for r in results),
        "errors": sum(r.errors for r in results),
        "requests": sum(r.requests for r in results),
        "cpu_us": statistics.median(r.server_cpu_us for r in results),
        "rounds": len(results),
    }


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.quick = args.quick
        self.rounds = args.rounds or (1 if self.quick else 3)
        self.seconds = args.seconds or (3.0 if self.quick else 10.0)
        self.warmup = 1.0 if self.quick else 2.0
        self.work = Path(tempfile.mkdtemp(prefix="c4router-bench-"))
        self.results: dict[str, Any] = {"started": datetime.now(UTC), "load_start": procs.loadavg()}
        self.pools: dict[str, Path] = {}
        self.raw_body = self.work / "raw-body.json"

    # -- helpers ---------------------------------------------------------------------------------
    def python(self, *args: str, timeout: float, env: dict[str, str] | None = None) -> str:
        """Run `python -m ...` in the repo; stream its lines, return its output."""
        process = procs.spawn(
            [sys.executable, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env
        )
        lines = []
        deadline = time.monotonic() + timeout
        try:
            assert process.stdout is not None
            for raw in process.stdout:
                line = raw.decode(errors="replace").rstrip()
                lines.append(line)
                if not line.startswith("RESULT "):
                    say(f"    {line}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{args[:2]} took more than {timeout:.0f}s")
            process.wait(timeout=max(1.0, deadline - time.monotonic()))
        finally:
            procs.stop(process)
        if process.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:3])} failed:\n" + "\n".join(lines[-20:]))
        return "\n".join(lines)

    @staticmethod
    def result_of(output: str) -> dict[str, Any]:
        match = re.search(r"^RESULT (\{.*\})$", output, re.MULTILINE)
        if match is None:
            raise RuntimeError(f"no RESULT line in:\n{output[-2000:]}")
        return json.loads(match.group(1))

    def env(self, db: str) -> dict[str, str]:
        return procs.production_env(server_url(db))

    def server(self, app: str, config: ServerConfig, db: str = DB_100K) -> Server:
        env = self.env(db)
        if app == "raw":
            env["RAW_ASGI_BODY_FILE"] = str(self.raw_body)
        return Server(app=app, config=config, env=env, log_dir=self.work)

    def wrk(self, server: Server, db: str, connections: int, seconds: float) -> WrkResult:
        cpu = server.cpu_seconds()
        result = procs.run_wrk(server.url, self.pools[db], TOKEN, connections, seconds)
        if result.requests:
            result.server_cpu_us = (server.cpu_seconds() - cpu) / result.requests * 1e6
        return result

    # -- data -----------------------------------------------------------------------------------
    def ensure_data(self, db: str, prefixes: int, dids: int, timeout: float) -> None:
        say(f"  {db}: {prefixes:,} prefixes, {dids:,} DIDs")
        args = [
            "-m",
            "bench.dataset",
            "ensure",
            "--db",
            db,
            "--prefixes",
            str(prefixes),
            "--dids",
            str(dids),
        ]
        if self.args.rebuild:
            args.append("--rebuild")
        result = self.result_of(self.python(*args, timeout=timeout))
        state = "reused" if result["reused"] else "built"
        say(
            f"    {state} in {result['seconds']:.1f}s (generated in {result['built_in']:.1f}s); "
            f"rows: " + ", ".join(f"{k} {v:,}" for k, v in result["counts"].items())
        )
        self.results.setdefault("data", {})[db] = result

    def prepare_pool(self, db: str) -> None:
        """The query pool for a database, and the in-process figures (build, handle_rtjson)."""
        started = time.perf_counter()
        bodies, mix = build_pool(db, POOL_SIZE)
        path = self.work / f"pool-{db}.txt"
        write_pool(path, bodies)
        self.pools[db] = path
        args = ["-m", "bench.measure", "--db", db, "--pool", str(path)]
        if db == DB_100K:
            args += ["--raw-body", str(self.raw_body)]
        measured = self.result_of(self.python(*args, timeout=600))
        measured["mix"] = mix
        measured["pool_bytes_mean"] = statistics.mean(len(b) for b in bodies)
        self.results.setdefault("inproc", {})[db] = measured
        say(
            f"  {db}: pool of {len(bodies):,} queries ({measured['pool_bytes_mean']:.0f} B mean) "
            f"in {time.perf_counter() - started:.1f}s; mix "
            + ", ".join(f"{k} {v}" for k, v in mix.items())
        )
        say("    answers: " + ", ".join(f"{k} {v}" for k, v in measured["answers"].items()))
        say(
            f"    in one process: table built in {measured['total_s']:.2f}s, RSS "
            f"{measured['rss_before_mb']:.0f} -> {measured['rss_after_mb']:.0f} MB (peak "
            f"{measured['rss_peak_mb']:.0f} MB); a full gc.collect() "
            f"{measured['full_gc_ms']:.0f} ms "
            f"({measured['gc_tracked_objects']:,} objects); handle_rtjson() "
            f"{measured['handle_us']:.1f} us, the ASGI app without a server "
            f"{measured['asgi_us']:.1f} us "
            f"per query (answers {measured['answer_bytes_mean']:.0f} B mean)"
        )

    # -- throughput -----------------------------------------------------------------------------
    def throughput(self) -> None:
        table: dict[str, dict[int, dict[str, Any]]] = {}
        self.results["throughput"] = table  # filled as it goes: an interrupted run shows it
        configs = CONFIGS
        if self.args.configs:
            configs = tuple(c for c in CONFIGS if config_key(c.label) in self.args.configs)
        for config in configs:
            say(f"  {config.label}: starting c4router and the raw ASGI app")
            c4, raw = self.server("c4router", config), self.server("raw", config)
            try:
                c4.launch()
                raw.launch()
                raw.wait_ready(60)
                c4.wait_ready(120)
                say(
                    f"    ready in {c4.ready_after:.1f}s / {raw.ready_after:.1f}s; "
                    f"c4router workers {c4.worker_pids()}"
                )
                for server in (c4, raw):
                    self.wrk(server, DB_100K, 64, self.warmup)
                per_conc: dict[int, dict[str, Any]] = {}
                for connections in (16, 64):
                    runs: dict[str, list[WrkResult]] = {"c4router": [], "raw": []}
                    for index in range(self.rounds):
                        for name, server in (("c4router", c4), ("raw", raw)):
                            result = self.wrk(server, DB_100K, connections, self.seconds)
                            runs[name].append(result)
                        a, b = runs["c4router"][-1], runs["raw"][-1]
                        say(
                            f"    c{connections:<3} round {index + 1}/{self.rounds}: c4router "
                            f"{fmt_int(a.rps):>7} req/s p50 {a.p50_ms:5.2f} p99 {a.p99_ms:6.2f} ms "
                            f"err {a.errors} cpu {a.server_cpu_us:4.0f} us/req | raw "
                            f"{fmt_int(b.rps):>7} req/s p50 {b.p50_ms:5.2f} p99 {b.p99_ms:6.2f} ms "
                            f"err {b.errors} cpu {b.server_cpu_us:4.0f} us/req"
                        )
                    per_conc[connections] = {name: median_of(r) for name, r in runs.items()}
                    # Each c4router round and the raw round after it ran seconds apart: the
                    # median of their ratios resists drifts in the machine's load best.
                    per_conc[connections]["ratio"] = statistics.median(
                        a.rps / b.rps for a, b in zip(runs["c4router"], runs["raw"], strict=True)
                    )
                mem = c4.memory()
                say(
                    "    c4router worker RSS after load: "
                    + ", ".join(f"{m.get('VmRSS', 0):.0f} MB" for m in mem)
                )
                table[config.label] = per_conc
            finally:
                c4.stop()
                raw.stop()
        self.results["throughput"] = table

    # -- scale ----------------------------------------------------------------------------------
    def scale(self) -> None:
        config = CONFIGS[0]
        out: dict[str, Any] = {}
        servers: dict[str, Server] = {}
        try:
            for db in (DB_100K, DB_1M):
                server = self.server("c4router", config, db)
                say(f"  {db}: starting c4router ({config.label})")
                server.start(timeout=300)
                servers[db] = server
                builds = server.build_times()
                mem = server.memory()
                out[db] = {
                    "rules": self.results["data"][db]["counts"]["routerule"],
                    "ready_s": server.ready_after,
                    "worker_builds_s": builds,
                    "rss_start_mb": [m.get("VmRSS", 0) for m in mem],
                }
                say(
                    f"    ready in {server.ready_after:.1f}s; worker table builds "
                    f"{seconds_list(builds)}; RSS {mb_list(out[db]['rss_start_mb'])}"
                )
            for db, server in servers.items():
                self.wrk(server, db, 64, self.warmup)
            runs: dict[str, list[WrkResult]] = {db: [] for db in servers}
            for index in range(self.rounds):
                for db, server in servers.items():
                    result = self.wrk(server, db, 64, self.seconds)
                    runs[db].append(result)
                    say(
                        f"    c64 round {index + 1}/{self.rounds} {db}: {fmt_int(result.rps)} "
                        f"req/s p50 {result.p50_ms:.2f} p99 {result.p99_ms:.2f} ms "
                        f"err {result.errors}"
                    )
            for db, server in servers.items():
                mem = server.memory()
                out[db]["c64"] = median_of(runs[db])
                out[db]["rss_end_mb"] = [m.get("VmRSS", 0) for m in mem]
                out[db]["hwm_mb"] = [m.get("VmHWM", 0) for m in mem]
                say(
                    f"    {db} after the load: RSS {mb_list(out[db]['rss_end_mb'])} "
                    f"(peak {mb_list(out[db]['hwm_mb'])})"
                )
        finally:
            for server in servers.values():
                server.stop()
        self.results["scale"] = out

    # -- reload ---------------------------------------------------------------------------------
    def reload(self) -> None:
        changes = 1 if self.quick else 5
        live_timeout = 20.0
        config = CONFIGS[0]
        server = self.server("c4router", config)
        say(
            f"  starting c4router ({config.label}); {changes} changes of the probe rule under "
            "wrk c64, each awaited until every answer reflects it (at most "
            f"{live_timeout:.0f}s)"
        )
        with server:
            before = len(server.table_updates())
            wrk = procs.start_wrk(
                server.url, self.pools[DB_100K], TOKEN, 64, changes * (live_timeout + 2) + 10
            )
            try:
                commits, answers, prober_errors = asyncio.run(
                    reload_under_load(server.url, changes, live_timeout)
                )
            finally:
                load = procs.interrupt_wrk(wrk)
            builds = [f"{kind} {seconds:.2f}s" for kind, seconds in server.table_updates()[before:]]
        (self.work / "reload-answers.json").write_text(
            json.dumps({"commits": commits, "answers": answers})
        )
        live = analyse_reload(commits, answers)
        out = {
            "changes": len(commits),
            "first_s": [x["first_s"] for x in live],
            "all_s": [x["all_s"] for x in live],
            "probe_answers": len(answers),
            "prober_errors": prober_errors,
            "wrk": load.as_dict(),
            "worker_builds_s": builds,
        }
        self.results["reload"] = out
        for index, x in enumerate(live):
            say(
                f"    change {index + 1}: first new answer after {fmt_s(x['first_s'])}, every "
                f"answer new after {fmt_s(x['all_s'])}"
            )
        say(
            f"    wrk meanwhile: {fmt_int(load.rps)} req/s, p99 {load.p99_ms:.1f} ms, max "
            f"{load.max_ms:.0f} ms, errors {load.errors} (non-2xx {load.non2xx}, socket "
            f"{load.socket_errors}); probe: {len(answers)} answers, {prober_errors} errors; "
            f"table updates in the workers: {', '.join(builds) or 'none logged'}"
        )

    # -- kamailio -------------------------------------------------------------------------------
    def kamailio(self) -> None:
        self.results["kamailio"] = kamailio_load.run(self, quick=self.quick)

    # -- records --------------------------------------------------------------------------------
    def records(self) -> None:
        self.results["records"] = cdr_bench.run(self, quick=self.quick)

    # -- admin ----------------------------------------------------------------------------------
    def admin(self) -> None:
        self.results["admin"] = admin_load.run(self, quick=self.quick)

    # -- lists ----------------------------------------------------------------------------------
    def lists(self) -> None:
        entries = 100_000 if self.quick else 1_000_000
        say(f"  {DB_LISTS}: a copy of {DB_100K} with {entries:,} number list entries imported")
        prepared = self.result_of(
            self.python(
                "-m", "bench.lists_bench", "prepare", "--src", DB_100K, "--db", DB_LISTS,
                "--pool", str(self.pools[DB_100K]), "--entries", str(entries),
                timeout=1800,
            )
        )  # fmt: skip
        out: dict[str, Any] = {"prepared": prepared}
        self.results["lists"] = out
        say(
            f"    imported {prepared['entries']:,} entries in {prepared['import_s']:.1f}s; "
            f"a worker reads and compiles them in {prepared['read_s']:.2f}s, keeping "
            f"{prepared['kept_bytes_per_entry']:.1f} B per entry (arrays "
            f"{prepared['array_bytes_per_entry']:.1f} B); decide() "
            f"{prepared['decide_us']['without']:.1f} us without lists, "
            f"{prepared['decide_us']['with']:.1f} us with ({prepared['refused_by_lists']} of "
            f"{prepared['queries']} pool queries refused by a list); the two lists' lookups "
            f"alone {prepared['lookup_us']:.2f} us per call (one int() of a number: "
            f"{prepared['int_us']:.3f} us, for the machine's speed)"
        )
        self.pools[DB_LISTS] = self.pools[DB_100K]  # the same calls against both
        self.compare_servers(out, DB_100K, DB_LISTS)

    # -- lnp ------------------------------------------------------------------------------------
    def lnp(self) -> None:
        numbers = 1_000_000 if self.quick else 10_000_000
        say(f"  {DB_LNP}: a copy of {DB_100K} with {numbers:,} ported numbers imported")
        prepared = self.result_of(
            self.python(
                "-m", "bench.lnp_bench", "prepare", "--src", DB_100K, "--db", DB_LNP,
                "--pool", str(self.pools[DB_100K]), "--numbers", str(numbers),
                timeout=3600,
            )
        )  # fmt: skip
        out: dict[str, Any] = {"prepared": prepared}
        self.results["lnp"] = out
        self.pools[DB_LNP] = self.pools[DB_100K]  # the same calls against both
        self.compare_servers(out, DB_100K, DB_LNP)

    def compare_servers(self, out: dict[str, Any], reference: str, db: str) -> None:
        """c64 req/s of the same pool against two databases, rounds alternated; the median
        of the per-round ratios db / reference into out["ratio"]."""
        config = CONFIGS[0]
        servers: dict[str, Server] = {}
        try:
            for name in (reference, db):
                server = self.server("c4router", config, name)
                server.start(timeout=600)
                servers[name] = server
                say(f"  {name}: c4router ({config.label}) ready in {server.ready_after:.1f}s")
            for name, server in servers.items():
                self.wrk(server, name, 64, self.warmup)
            runs: dict[str, list[WrkResult]] = {name: [] for name in servers}
            for index in range(self.rounds):
                for name, server in servers.items():
                    result = self.wrk(server, name, 64, self.seconds)
                    runs[name].append(result)
                    say(
                        f"    c64 round {index + 1}/{self.rounds} {name}: {fmt_int(result.rps)} "
                        f"req/s p50 {result.p50_ms:.2f} p99 {result.p99_ms:.2f} ms "
                        f"err {result.errors} cpu {result.server_cpu_us:.0f} us/req"
                    )
            for name, server in servers.items():
                out[name] = {
                    "c64": median_of(runs[name]),
                    "rss_mb": [m.get("VmRSS", 0) for m in server.memory()],
                }
                say(f"    {name} worker RSS after the load: {mb_list(out[name]['rss_mb'])}")
            out["ratio"] = statistics.median(
                a.rps / b.rps for a, b in zip(runs[db], runs[reference], strict=True)
            )
        finally:
            for server in servers.values():
                server.stop()

    # -- overload -------------------------------------------------------------------------------
    def overload(self) -> None:
        self.results["overload"] = overload.run(self, quick=self.quick)

    # -- health ---------------------------------------------------------------------------------
    def health(self) -> None:
        self.results["health"] = health_bench.run(self, quick=self.quick)

    # -- lcr ------------------------------------------------------------------------------------
    def lcr(self) -> None:
        self.results["lcr"] = lcr_load.run(self, quick=self.quick)

    # -- run --------------------------------------------------------------------------------------
    def run(self) -> None:
        only = self.args.only
        sections = [s for s in SECTIONS if s != "data" and (not only or s in only)]
        if self.quick:
            sections = [
                s
                for s in sections
                if s not in ("scale", "kamailio", "admin", "overload", "health", "lcr") or only
            ]
        self.results["sections"] = sections
        say(
            f"c4router bench: sections {', '.join(sections)}; {self.rounds} x {self.seconds:g}s "
            f"rounds; logs in {self.work}; load average {procs.loadavg()}"
        )
        say("\n== data")
        self.ensure_data(DB_100K, 100_000, 100_000, timeout=900)
        if "scale" in sections:
            self.ensure_data(DB_1M, 1_000_000, 100_000, timeout=1800)
        self.prepare_pool(DB_100K)
        if "scale" in sections:
            self.prepare_pool(DB_1M)
        if not self.raw_body.exists():
            raise RuntimeError("no routed answer in the pool: the data set is wrong")
        steps: dict[str, Callable[[], None]] = {
            "throughput": self.throughput,
            "scale": self.scale,
            "reload": self.reload,
            "kamailio": self.kamailio,
            "records": self.records,
            "admin": self.admin,
            "lists": self.lists,
            "lnp": self.lnp,
            "overload": self.overload,
            "health": self.health,
            "lcr": self.lcr,
        }
        for name in sections:
            load = procs.loadavg()
            self.results.setdefault("load", {})[name] = load.split()[0]
            say(f"\n== {name}  (load average {load})")
            started = time.monotonic()
            try:
                steps[name]()
            except KeyboardInterrupt:
                raise
            except Exception as exc:  # one broken section must not hide the others' figures
                self.results.setdefault("failed", {})[name] = f"{type(exc).__name__}: {exc}"
                say(f"  FAILED: {type(exc).__name__}: {exc}")
            say(f"  ({time.monotonic() - started:.0f}s)")
        self.results["finished"] = datetime.now(UTC)


# ------------------------------------------------------------------------------------------
# reload probe


def probe_body() -> bytes:
    return json.dumps(
        {
            "event": "sip-routing",
            "source_ip": "198.18.1.1",
            "source_port": 5060,
            "call_id": "reload-probe",
            "from_uri": "sip:201@198.18.1.1",
            "to_uri": f"sip:+{PROBE_PREFIX}1234567@t01.voice.bench.example",
            "to_tag": "<null>",
        }
    ).encode()


QUIET = 2.0


class Prober:
    """Asks the probe rule's route over `connections` keep-alive connections, back to back.

    Each answer is kept as (receive time on the monotonic clock, first route's dst_uri): the
    monotonic clock is the same in every process, so it compares with the changer's commits.
    """

    def __init__(self, url: str, connections: int = 8) -> None:
        self.url = url
        self.connections = connections
        self.answers: list[tuple[float, str]] = []
        self.errors = 0
        self.running = True

    async def run(self) -> None:
        import httpx

        body = probe_body()
        headers = {"Content-Type": "application/json", "X-C4-Token": TOKEN}
        limits = httpx.Limits(
            max_connections=self.connections, max_keepalive_connections=self.connections
        )
        async with httpx.AsyncClient(base_url=self.url, limits=limits, timeout=5.0) as client:

            async def loop() -> None:
                while self.running:
                    try:
                        response = await client.post(
                            "/kamailio/rtjson", content=body, headers=headers
                        )
                        received = time.monotonic()
                        if response.status_code != 200:
                            self.errors += 1
                            continue
                        routes = response.json()["rtjson"].get("routes") or [{}]
                        self.answers.append((received, routes[0].get("dst_uri", "")))
                    except (httpx.HTTPError, ValueError, KeyError):
                        self.errors += 1

            await asyncio.gather(*(loop() for _ in range(self.connections)))

    def live_everywhere(self, since: float, dst_uri: str) -> bool:
        """Only new answers for the last QUIET seconds and 40 answers (every worker has it).

        A worker busy rebuilding its table answers late (up to a second or more under load):
        the quiet period lets its last old answers arrive before the next change.
        """
        recent = [(t, dst) for t, dst in self.answers[-2000:] if t > since]
        if len(recent) < 40 or any(dst != dst_uri for _, dst in recent[-40:]):
            return False
        old = [t for t, dst in recent if dst != dst_uri]
        return recent[-1][0] - (old[-1] if old else since) >= QUIET


async def reload_under_load(
    url: str, changes: int, live_timeout: float
) -> tuple[list[dict[str, Any]], list[tuple[float, str]], int]:
    """Commit `changes` changes one after the other, each awaited until live everywhere."""
    changer = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.dataset", "probe-changes", "--db", DB_100K,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT, cwd=REPO, start_new_session=True,
    )  # fmt: skip
    assert changer.stdin is not None and changer.stdout is not None
    prober = Prober(url)
    task = asyncio.create_task(prober.run())
    commits: list[dict[str, Any]] = []
    try:
        line = await asyncio.wait_for(changer.stdout.readline(), 60)
        if b'"ready"' not in line:
            rest = await asyncio.wait_for(changer.stdout.read(), 30)
            text = (line + rest).decode(errors="replace").strip().splitlines()
            raise RuntimeError("probe-changes did not start:\n" + "\n".join(text[-15:]))
        await asyncio.sleep(2)  # the load is established
        for _ in range(changes):
            changer.stdin.write(b"change\n")
            await changer.stdin.drain()
            line = await asyncio.wait_for(changer.stdout.readline(), 30)
            commit = json.loads(line)
            commits.append(commit)
            deadline = commit["committed"] + live_timeout
            while time.monotonic() < deadline and not prober.live_everywhere(
                commit["committed"], commit["dst_uri"]
            ):
                await asyncio.sleep(0.05)
            await asyncio.sleep(1)
    finally:
        prober.running = False
        await asyncio.wait_for(task, 10)
        if changer.returncode is None:
            changer.stdin.close()
            try:
                await asyncio.wait_for(changer.wait(), 10)
            except TimeoutError:
                changer.kill()
    return commits, sorted(prober.answers), prober.errors


def analyse_reload(
    commits: list[dict[str, Any]], answers: list[tuple[float, str]]
) -> list[dict[str, Any]]:
    """Per change: the first answer naming the new target, and the first answer after which
    every answer does (the last worker to reload)."""
    out = []
    for index, commit in enumerate(commits):
        start = commit["committed"]
        end = commits[index + 1]["committed"] if index + 1 < len(commits) else float("inf")
        window = [(t, dst) for t, dst in answers if start < t < end]
        new = [t for t, dst in window if dst == commit["dst_uri"]]
        old = [t for t, dst in window if dst != commit["dst_uri"]]
        last_old = old[-1] if old else start
        after = [t for t in new if t > last_old]
        out.append(
            {
                "first_s": (new[0] - start) if new else None,
                "all_s": (after[0] - start) if after else None,
            }
        )
    return out


def config_key(label: str) -> str:
    return label.replace(" ", "").replace("-", "")


def seconds_list(values: list[float]) -> str:
    return ", ".join(f"{value:.2f}s" for value in values)


def mb_list(values: list[float]) -> str:
    return ", ".join(f"{value:.0f} MB" for value in values)


def fmt_s(value: float | None) -> str:
    return "not seen" if value is None else f"{value * 1000:.0f} ms"


# ------------------------------------------------------------------------------------------
# summary


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("yes" if ok else "NO")


def git_state() -> str:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], capture_output=True, text=True, cwd=REPO, check=False
        ).stdout.strip()

    dirty = git("status", "--porcelain", "--untracked-files=no")
    return git("rev-parse", "--short", "HEAD") + (" (+ uncommitted changes)" if dirty else "")


class Summary:
    """The final report: one block per section, then the issue's targets next to the figures."""

    def __init__(self, bench: Bench) -> None:
        self.bench = bench
        self.r = bench.results
        self.lines: list[str] = []
        self.checks: list[tuple[str, str, str, bool | None]] = []

    def add(self, text: str = "") -> None:
        self.lines.append(text)

    def check(self, label: str, measured: str, target: str, ok: bool | None) -> None:
        self.checks.append((label, measured, target, ok))

    def text(self) -> str:
        self.header()
        self.throughput()
        self.scale()
        self.reload()
        self.kamailio()
        self.records()
        self.admin()
        self.lists()
        self.lnp()
        self.overload()
        self.health()
        self.lcr()
        for name, error in self.r.get("failed", {}).items():
            self.add(f"section {name} FAILED: {error}")
        if self.checks:
            self.add(f"{'targets (of the sections run)':<46} {'measured':<34} {'target':<20} met")
            for label, measured, target, ok in self.checks:
                self.add(f"{label:<46} {measured:<34} {target:<20} {verdict(ok)}")
        if self.r.get("load"):
            self.add("")
            self.add(
                "1-min load average before each section (other work on the machine shows here): "
                + ", ".join(f"{name} {load}" for name, load in self.r["load"].items())
            )
        finished = self.r.get("finished") or datetime.now(UTC)
        took = (finished - self.r["started"]).total_seconds()
        self.add("")
        self.add(f"bench/run{' --quick' if self.bench.quick else ''} took {took:.0f}s")
        return "\n".join(self.lines)

    def lcr(self) -> None:
        result = self.r.get("lcr")
        if not result or "ratio" not in result:
            return
        for line in lcr_load.summary_lines(result):
            self.add(line)
        self.add("")
        for check in lcr_load.checks(result):
            self.check(*check)

    def header(self) -> None:
        r, bench = self.r, self.bench
        self.add(f"c4router benchmark, {r['started']:%Y-%m-%d %H:%M} UTC, commit {git_state()}")
        self.add(
            f"machine: {os.cpu_count()} cores, {platform.python_implementation()} "
            f"{platform.python_version()}, load average at start {r['load_start']} "
            "(1, 5, 15 min)"
        )
        self.add(
            "c4router: production settings (C4ROUTER_MODE=production, generated SECRET_KEY, "
            "ALLOWED_HOSTS=127.0.0.1, LOG_LEVEL=INFO), PostgreSQL on 127.0.0.1"
        )
        self.add(
            f"load: wrk -t2, {bench.rounds} x {bench.seconds:g}s rounds per figure (median), "
            f"{POOL_SIZE:,} varied queries{' (--quick)' if bench.quick else ''}"
        )
        data = r.get("data", {}).get(DB_100K)
        if data:
            counts = data["counts"]
            self.add(
                f"data: {counts['routerule']:,} route rules ({counts['routetarget']:,} targets), "
                f"{counts['did']:,} DIDs, {counts['ipsource']:,} IP sources, {counts['tenant']} "
                f"tenants, {counts['pbx']} PBXs, {counts['carrier']} carriers, "
                f"{counts['gateway']} gateways, {counts['normalizationrule']} normalization rules"
            )
        inproc = r.get("inproc", {}).get(DB_100K)
        if inproc:
            mix = ", ".join(f"{k} {v * 100 / POOL_SIZE:.0f}%" for k, v in inproc["mix"].items())
            self.add(f"query mix: {mix}")
            answers = inproc["answers"]
            total = sum(answers.values())
            self.add(
                "answers: " + ", ".join(f"{k} {v * 100 / total:.0f}%" for k, v in answers.items())
            )
            self.add(
                f"in one process, no server: handle_rtjson() {inproc['handle_us']:.1f} us/query, "
                f"c4router.asgi.application {inproc.get('asgi_us', 0):.1f} us/query; "
                f"raw app body {inproc['raw_body_bytes']} B (c4router answers "
                f"{inproc['answer_bytes_mean']:.0f} B mean)"
            )
        self.add("")

    def throughput(self) -> None:
        tp = self.r.get("throughput")
        if not tp:
            return
        self.add(f"POST /kamailio/rtjson{'c4router':>37}{'raw ASGI ceiling':>46}")
        self.add(
            f"{'server':<15} {'conc':<5} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'err':>4} "
            f"{'cpu us':>6}  {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'err':>4} {'cpu us':>6}  "
            f"{'ratio':>6}"
        )
        for label, per_conc in tp.items():
            for conc, pair in per_conc.items():
                a, b, ratio = pair["c4router"], pair["raw"], pair["ratio"]
                self.add(
                    f"{label:<15} c{conc:<4} {fmt_int(a['rps']):>8} {a['p50_ms']:7.2f} "
                    f"{a['p99_ms']:7.2f} {a['errors']:4d} {a['cpu_us']:6.0f}  "
                    f"{fmt_int(b['rps']):>8} {b['p50_ms']:7.2f} {b['p99_ms']:7.2f} "
                    f"{b['errors']:4d} {b['cpu_us']:6.0f}  {ratio:6.1%}"
                )
        self.add(
            "(cpu us: CPU time of the server's processes per request, median round; the rest "
            "of the 2 cores goes to wrk)"
        )
        self.add("")
        main_cfg = tp.get(CONFIGS[0].label, {}).get(64)
        if main_cfg:
            a, b, ratio = main_cfg["c4router"], main_cfg["raw"], main_cfg["ratio"]
            self.check(
                "c64 vs raw ASGI, 100k (gunicorn -w 2)",
                f"{ratio:.2%} ({fmt_int(a['rps'])} / {fmt_int(b['rps'])} req/s)",
                ">= 40%",
                ratio >= TARGETS["ratio"],
            )
            self.check(
                "p99 at c64 (gunicorn -w 2)",
                f"{a['p99_ms']:.2f} ms",
                "<= 10 ms",
                a["p99_ms"] <= TARGETS["p99_ms"],
            )
        errors = sum(pair["c4router"]["errors"] for c in tp.values() for pair in c.values())
        self.check("errors (c4router, all throughput runs)", str(errors), "0", errors == 0)

    def scale(self) -> None:
        sc = self.r.get("scale")
        if not sc or DB_1M not in sc or DB_100K not in sc:
            return
        inproc = self.r.get("inproc", {})
        small, large = sc[DB_100K], sc[DB_1M]
        alone_small, alone_large = inproc.get(DB_100K, {}), inproc.get(DB_1M, {})
        self.add(f"table size (c4router, gunicorn -w 2){'100k prefixes':>22}{'1M prefixes':>16}")

        def row(label: str, a: Any, b: Any, pattern: str) -> None:
            a_text = pattern.format(a) if a is not None else "-"
            b_text = pattern.format(b) if b is not None else "-"
            self.add(f"{label:<44} {a_text:>13} {b_text:>15}")

        row("route rules", small.get("rules"), large.get("rules"), "{:,}")
        in_process = (  # bench/measure.py's figures: (label, key, format)
            ("table build, one process alone (s)", "total_s", "{:.2f}"),
            ("  process RSS after the build (MB)", "rss_after_mb", "{:.0f}"),
            ("  process peak RSS (VmHWM) (MB)", "rss_peak_mb", "{:.0f}"),
            ("one edit patched in (ms)", "patch_one_ms", "{:.0f}"),
            ("  peak RSS meanwhile (MB)", "patch_peak_mb", "{:.0f}"),
            ("rebuild with the table in use (import) (s)", "rebuild_s", "{:.2f}"),
            ("  peak RSS meanwhile (MB)", "rebuild_peak_mb", "{:.0f}"),
            ("  RSS after it (MB)", "rss_after_rebuild_mb", "{:.0f}"),
        )
        for label, key, pattern in in_process:
            row(label, alone_small.get(key), alone_large.get(key), pattern)
        row("table build in each worker at start, max (s)", max(small["worker_builds_s"] or [0]),
            max(large["worker_builds_s"] or [0]), "{:.2f}")  # fmt: skip
        row("a full gc.collect() with the table (ms)", alone_small.get("full_gc_ms"),
            alone_large.get("full_gc_ms"), "{:.0f}")  # fmt: skip
        row("worker RSS after the load, max (MB)", max(small["rss_end_mb"] or [0]),
            max(large["rss_end_mb"] or [0]), "{:.0f}")  # fmt: skip
        row("worker peak RSS (VmHWM), max (MB)", max(small["hwm_mb"] or [0]),
            max(large["hwm_mb"] or [0]), "{:.0f}")  # fmt: skip
        row("req/s at c64 (median)", small["c64"]["rps"], large["c64"]["rps"], "{:,.0f}")
        row("p99 at c64 (ms)", small["c64"]["p99_ms"], large["c64"]["p99_ms"], "{:.2f}")
        row("errors", small["c64"]["errors"], large["c64"]["errors"], "{:d}")
        self.add("")
        build = max(large["worker_builds_s"] or [float("inf")])
        rss = max(large["hwm_mb"] or [float("inf")])
        lookup = large["c64"]["rps"] / small["c64"]["rps"]
        self.check(
            "1M prefixes: table build (in a worker)",
            f"{build:.1f} s (one process alone: {alone_large.get('total_s', 0):.1f} s)",
            "<= 10 s",
            build <= TARGETS["build_s"],
        )
        self.check("1M prefixes: RSS per worker (peak)", f"{rss:.0f} MB", "<= 300 MB",
                   rss <= TARGETS["rss_mb"])  # fmt: skip
        self.check(
            "1M prefixes: c64 req/s vs 100k",
            f"{lookup:.0%} ({fmt_int(large['c64']['rps'])} / {fmt_int(small['c64']['rps'])})",
            "unchanged (>= 90%)",
            lookup >= TARGETS["lookup_ratio"],
        )

    def reload(self) -> None:
        rl = self.r.get("reload")
        if not rl:
            return
        firsts = [x for x in rl["first_s"] if x is not None]
        alls = [x for x in rl["all_s"] if x is not None]
        missing = rl["changes"] - len(alls)
        worst = max(alls) if alls else None
        self.add(
            f"change -> live under load: {rl['changes']} changes of a rule's target (ORM, "
            "committed), gunicorn -w 2 under wrk c64"
        )
        median_first = statistics.median(firsts) if firsts else None
        median_all = statistics.median(alls) if alls else None
        self.add(
            f"  first answer reflecting it: median {fmt_s(median_first)}, "
            f"max {fmt_s(max(firsts) if firsts else None)}"
        )
        self.add(
            f"  every answer reflecting it (all workers): median {fmt_s(median_all)}, "
            f"max {fmt_s(worst)}{f', {missing} never' if missing else ''}"
        )
        w = rl["wrk"]
        self.add(
            f"  wrk meanwhile: {fmt_int(w['rps'])} req/s, p99 {w['p99_ms']:.1f} ms, "
            f"max {w['max_ms']:.0f} ms; errors: wrk {w['errors']}, probe {rl['prober_errors']} "
            f"of {rl['probe_answers'] + rl['prober_errors']}"
        )
        updates = ", ".join(rl["worker_builds_s"]) or "none logged"
        self.add(f"  table updates logged by the workers: {updates}")
        self.add("")
        errors = w["errors"] + rl["prober_errors"]
        self.check(
            "change -> live under load (all workers)",
            f"{fmt_s(worst)} max" + (f", {missing} never" if missing else ""),
            "<= 1 s",
            worst is not None and not missing and worst <= TARGETS["live_s"],
        )
        self.check("failed requests during reloads", str(errors), "0", errors == 0)

    def kamailio(self) -> None:
        km = self.r.get("kamailio")
        if not km:
            return
        self.add(
            f"through Kamailio {km.get('kamailio_version', '')}: SIPp caller -> Kamailio -> "
            "c4router (gunicorn -w 2) -> carrier 1 (SIPp, 503) -> carrier 2 (SIPp, 200)"
        )
        self.add(f"  {km.get('setup', '')}")
        self.add(
            f"  {'calls/s':>7} {'calls':>7} {'completed':>10} {'failed':>7} {'seconds':>8}   "
            f"cores: {'kamailio':>8} {'c4router':>9} {'sipp':>5}"
        )
        for step in km.get("steps", []):
            self.add(
                f"  {step['rate']:>7} {step['calls']:>7} {step['completed']:>10} "
                f"{step['failed']:>7} {step['elapsed_s']:>8.1f}   {step['cpu_kamailio']:>15.2f} "
                f"{step['cpu_c4router']:>9.2f} {step['cpu_sipp']:>5.2f}"
            )
        for step in km.get("steps", []):
            self.add(f"  at {step['rate']} calls/s, {kamailio_load.api_text(step)}")
        for step in km.get("steps", []):
            if step.get("errors"):
                self.add(f"  at {step['rate']} calls/s, SIPp saw: {step['errors']}")
        if km.get("note"):
            self.add(f"  {km['note']}")
        self.add("")
        best = km.get("best_clean_rate", 0)
        self.check(
            "calls/s via Kamailio, 503 failover on each",
            f"{best} calls/s with 0 failed",
            ">= 500, 0 failed",
            best >= TARGETS["calls_per_s"],
        )

    def overload(self) -> None:
        ov = self.r.get("overload")
        if not ov or not ov.get("steps"):
            return
        best = ov["max"]
        self.add(
            "overload: SIPp caller -> Kamailio -> c4router -> carrier 1 (503) -> carrier 2 "
            f"(200); max = the highest rate with 99% completed, 0 failed: {best} calls/s"
        )
        self.add(f"  {ov.get('setup', '')}")
        self.add(
            f"  {'factor':>6} {'offered/s':>9} {'completed/s':>11} {'% of max':>8} "
            f"{'refused/s':>9} {'<50ms':>6} {'median':>6} {'failed':>6} {'retrans':>7} "
            f"{'load':>5}"
        )
        for step in ov["steps"]:
            seconds = step["seconds"]
            done = step["completed"] / seconds
            fast = step["refused_fast"] / step["refused"] if step["refused"] else 1.0
            self.add(
                f"  {step['factor']:>5.1f}x {step['rate']:>9} {done:>11.0f} "
                f"{100 * done / best:>7.0f}% {step['refused'] / seconds:>9.0f} "
                f"{100 * fast:>5.0f}% {step.get('refused_median') or '-':>6} "
                f"{step['failed'] + step['missing']:>6} "
                f"{step['retransmissions']:>7} {step['load']:>5}"
            )
        for step in ov["steps"]:
            self.add(overload.summary_line(step, best))
        for step in ov["steps"]:
            if step.get("errors"):
                self.add(f"  at {step['factor']:.1f}x, SIPp saw: {step['errors']}")
            if step.get("unexpected"):
                self.add(f"  at {step['factor']:.1f}x, answers SIPp did not expect: "
                         f"{step['unexpected']}")  # fmt: skip
        cap = ov.get("capacity")
        if cap and "on" in cap:
            self.add(
                "  the capacity step: the same calls through a Kamailio with the limits off, then "
                "on (every tenant, PBX, IP source, carrier and gateway limited, never reached; "
                f"the call's limits and each route's: {cap.get('limits', '')}); load "
                f"{cap['off']['load']} / {cap['on']['load']}"
            )
            self.add(overload.capacity_line(cap))
        self.add("")

    def records(self) -> None:
        rc = self.r.get("records")
        if not rc:
            return
        self.add("call records (Kamailio acc + dialog -> RabbitMQ -> ingest_cdrs -> PostgreSQL)")
        km = rc.get("kamailio")
        if km and "on" in km and "off" in km:
            on, off, stored = km["on"], km["off"], km.get("stored", {})
            # Every call SIPp placed makes a call record; every INVITE a carrier received,
            # an attempt record (2 per completed call: the 503, then the 200).
            expected = on["calls"] + on.get("attempts", 2 * on["calls"])
            got = stored.get("attempts", 0) + stored.get("calls", 0)
            lost = max(0, expected - stored.get("distinct", 0))
            doubled = got - stored.get("distinct", 0)
            self.add(
                f"  records: {km['rate']} calls/s with 503 failover, {on['failed']} failed, "
                f"{got} records for {expected} attempts+calls ({on.get('attempts')} attempts "
                f"seen by the carriers; lost {lost}, doubled {doubled}), "
                f"Kamailio CPU/call {on['kamailio_cpu_ms_per_call']:.3f} ms on vs "
                f"{off['kamailio_cpu_ms_per_call']:.3f} ms off ({off['failed']} failed off)"
            )
            lcr, stored_lcr = km.get("lcr"), km.get("stored_lcr", {})
            if lcr:
                # The same with the rule in least-cost mode: rates and billing terms in each
                # route, each answered call priced by the ingester.
                self.add(
                    f"  records, least-cost rule: {lcr['failed']} failed, "
                    f"{stored_lcr.get('priced', 0)} of {stored_lcr.get('calls', 0)} call "
                    f"records priced, Kamailio CPU/call {lcr['kamailio_cpu_ms_per_call']:.3f} ms "
                    f"vs {on['kamailio_cpu_ms_per_call']:.3f} ms priority (records on, same run)"
                )
            self.check(
                "calls/s with records on, 503 failover on each",
                f"{km['rate']} calls/s, {on['failed']} failed",
                ">= 500, 0 failed",
                km["rate"] >= TARGETS["calls_per_s"] and on["failed"] == 0,
            )
            self.check(
                "records = attempts + calls",
                f"{got}/{expected} (lost {lost}, doubled {doubled})",
                "none lost or doubled",
                lost == 0 and doubled == 0,
            )
        ingest = rc.get("ingest")
        if ingest:
            self.add(
                f"  ingest: {ingest['records_per_s']:,.0f} records/s ({ingest['stored']:,} "
                f"records in {ingest['seconds']:.1f} s, batches of 1,000, rollups included)"
            )
        dash = rc.get("dashboard")
        if dash:
            self.add(
                f"  dashboard queries over {dash['attempts'] / 1e6:.0f}M attempts: "
                f"{dash['slowest_s']:.2f} s slowest, {dash['all_s']:.2f} s for all "
                f"{len(dash['timings'])} ({dash['rollup_rows']:,} rollup rows for the day)"
            )
            for name, seconds in dash["timings"].items():
                self.add(f"    {name}: {seconds * 1000:.0f} ms")
            self.check(
                f"dashboard query over a day of {dash['attempts'] / 1e6:.0f}M attempts",
                f"{dash['slowest_s']:.2f} s slowest",
                "< 1 s",
                dash["slowest_s"] < TARGETS["dashboard_s"],
            )
            pages = dash.get("pages")
            if pages:
                self.add("  the admin's Traffic pages over that day (Django, whole answer):")
                for name, seconds in pages.items():
                    self.add(f"    {name}: {seconds * 1000:.0f} ms")
                self.check(
                    f"Traffic pages, day of {dash['attempts'] / 1e6:.0f}M attempts (slowest)",
                    f"{dash['slowest_page_s']:.2f} s",
                    "< 1 s",
                    dash["slowest_page_s"] < TARGETS["dashboard_s"],
                )
        outage = rc.get("outage")
        if outage:
            if outage.get("ok"):
                self.add(
                    f"  pg outage ({outage['outage_s']} s, ingester killed twice): placed "
                    f"{outage['placed']}, completed {outage['completed']}, records "
                    f"{outage['records']}/{outage['expected']}, lost {outage['lost']}, "
                    f"doubled {outage['doubled']}"
                )
            else:
                self.add(f"  pg outage run FAILED: {outage.get('tail', '')}")
            clean = bool(outage.get("ok")) and outage["lost"] == 0 and outage["doubled"] == 0
            self.check(
                "records across a 30 s PostgreSQL outage",
                f"lost {outage.get('lost', '?')}, doubled {outage.get('doubled', '?')}",
                "0 lost, 0 doubled",
                clean,
            )
        self.add("")

    def admin(self) -> None:
        result = self.r.get("admin")
        if not result or "import" not in result:
            return
        lines, worst = admin_load.summary_lines(result)
        for line in lines:
            self.add(line)
        self.add("")
        self.check(
            "routing p99 during an admin export / import",
            f"{result['export']['p99_ms']:.1f} / {result['import']['p99_ms']:.1f} ms",
            f"< {admin_load.TARGET_P99_MS:g} ms",
            worst is not None and worst < admin_load.TARGET_P99_MS,
        )

    def lists(self) -> None:
        ls = self.r.get("lists")
        if not ls or "ratio" not in ls:
            return
        p = ls["prepared"]
        without, with_lists = ls[DB_100K], ls[DB_LISTS]
        self.add(
            f"number lists (gunicorn -w 2, c64): {p['entries']:,} entries in two global block "
            "lists (called and caller number), vs the same data without"
        )
        self.add(
            f"  req/s {fmt_int(with_lists['c64']['rps'])} with lists, "
            f"{fmt_int(without['c64']['rps'])} without (median of per-round ratios "
            f"{ls['ratio']:.1%}); p99 {with_lists['c64']['p99_ms']:.2f} / "
            f"{without['c64']['p99_ms']:.2f} ms; cpu {with_lists['c64']['cpu_us']:.0f} / "
            f"{without['c64']['cpu_us']:.0f} us/req"
        )
        self.add(
            f"  worker RSS {mb_list(with_lists['rss_mb'])} with lists, "
            f"{mb_list(without['rss_mb'])} without"
        )
        self.add(
            f"  in one process: the two lists' lookups {p['lookup_us']:.2f} us per call (one "
            f"int() {p['int_us']:.3f} us); decide() {p['decide_us']['with']:.1f} us/query "
            f"with lists, {p['decide_us']['without']:.1f} without; entries read and compiled in "
            f"{p['read_s']:.2f}s, {p['kept_bytes_per_entry']:.1f} B kept per entry (arrays "
            f"{p['array_bytes_per_entry']:.1f} B; peak while reading "
            f"{p['peak_bytes_per_entry']:.0f} B)"
        )
        self.add(
            f"  CSV import (validate, COPY, history, one version bump): {p['entries']:,} entries "
            f"in {p['import_s']:.1f}s"
        )
        self.add("")
        self.check(
            "c64 with 1M list entries vs without",
            f"{ls['ratio']:.1%}",
            ">= 95%",
            ls["ratio"] >= TARGETS["lists_ratio"],
        )

    def lnp(self) -> None:
        section = self.r.get("lnp")
        if not section or "ratio" not in section:
            return
        p = section["prepared"]
        off, on = section[DB_100K], section[DB_LNP]
        self.add(
            f"portability (gunicorn -w 2, c64): {p['numbers']:,} ported numbers and a global "
            "LNP rule (every outbound call looked up), vs the same data without"
        )
        self.add(
            f"  req/s {fmt_int(on['c64']['rps'])} with LNP, {fmt_int(off['c64']['rps'])} "
            f"without (median of per-round ratios {section['ratio']:.1%}); p99 "
            f"{on['c64']['p99_ms']:.2f} / {off['c64']['p99_ms']:.2f} ms; cpu "
            f"{on['c64']['cpu_us']:.0f} / {off['c64']['cpu_us']:.0f} us/req; worker RSS "
            f"{mb_list(on['rss_mb'])} with, {mb_list(off['rss_mb'])} without"
        )
        self.add(
            f"  memory: {p['array_bytes_per_number']:.1f} B per number in the arrays, "
            f"{p['rss_bytes_per_number']:.1f} B of RSS growth; a worker reads and compiles them "
            f"in {p['read_s']:.1f}s"
        )
        self.add(
            f"  import (validate, COPY, apply, one version bump): {p['numbers']:,} numbers in "
            f"{p['import_s']:.1f}s, {p['import_s_per_million']:.1f}s per million"
        )
        self.add(
            f"  in one process: decide() {p['decide_us']['on']:.1f} us/query with LNP, "
            f"{p['decide_us']['off']:.1f} without ({p['ported_calls']} of {p['queries']} pool "
            "calls ported)"
        )
        self.add("")
        self.check(
            f"c64 with LNP ({p['numbers'] / 1e6:g}M ported) vs off",
            f"{section['ratio']:.1%}",
            ">= 90%",
            section["ratio"] >= TARGETS["lnp_ratio"],
        )

    def health(self) -> None:
        result = self.r.get("health")
        if not result:
            return
        for line in health_bench.summary_lines(result):
            self.add(line)
        self.add("")
        if "pdd" in result:
            p = result["pdd"]
            self.check(
                "PDD, dead first gateway: timer / marked down",
                f"{p['timer_ms']} / {p['down_ms']} ms",
                "near zero once down",
                p["down_ms"] < p["timer_ms"] / 10,
            )


def summary(bench: Bench) -> str:
    return Summary(bench).text()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bench/run", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="1 short round per figure, no 1M data set, no Kamailio, no admin, no health (< 2 min)",
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=SECTIONS[1:],
        help="run only this section (repeatable); data is always ensured",
    )
    parser.add_argument("--rebuild", action="store_true", help="rebuild the bench databases")
    parser.add_argument("--rounds", type=int, help="rounds per figure (default 3, --quick 1)")
    parser.add_argument("--seconds", type=float, help="seconds per round (default 10, --quick 3)")
    parser.add_argument(
        "--configs",
        nargs="*",
        help="throughput server setups, e.g. gunicorn-w2 uvicorn-w1 (default all)",
    )
    parser.add_argument(
        "--no-save", action="store_true", help="do not write bench/results/latest.txt"
    )
    parser.add_argument("--keep-logs", action="store_true", help="keep the servers' logs")
    parser.add_argument(
        "--records-rate", type=int, default=cdr_bench.RATE,
        help=f"calls/s of the records section's Kamailio runs (default {cdr_bench.RATE})",
    )  # fmt: skip
    parser.add_argument(
        "--records-parts", nargs="*", choices=("ingest", "dashboard", "kamailio", "outage"),
        help="parts of the records section to run (default all)",
    )  # fmt: skip
    parser.add_argument(
        "--kamailio-log-level",
        type=int,
        default=2,
        help="Kamailio debug= level (default 2, what render_kamailio_config writes)",
    )
    args = parser.parse_args(argv)
    if args.configs:
        args.configs = [config_key(c) for c in args.configs]
    if shutil.which("wrk") is None:
        say("bench/run: wrk is missing (apt-get install wrk)")
        return 2
    procs.install_cleanup()
    bench = Bench(args)
    code = 0
    try:
        bench.run()
    except KeyboardInterrupt:
        say("\ninterrupted: stopping everything")
        code = 130
    finally:
        procs.stop_all()
    text = summary(bench)
    say("\n" + "=" * 100 + "\n" + text)
    if not args.no_save and code == 0:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "latest.txt").write_text(text + "\n")
        say(f"\nwritten to {(RESULTS / 'latest.txt').relative_to(REPO)}")
    if not args.keep_logs:
        shutil.rmtree(bench.work, ignore_errors=True)
    else:
        say(f"logs kept in {bench.work}")
    return code


if __name__ == "__main__":
    sys.exit(main())
