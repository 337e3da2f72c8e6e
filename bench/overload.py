"""Past the maximum: completed calls/s stay flat, the rest are refused fast.

The whole path of the kamailio section (SIPp caller -> Kamailio -> c4router -> carrier 1, a
SIPp UAS answering 503 -> failover -> carrier 2, a SIPp UAS answering 200), with the
config's overload bound on (C4ROUTER_OVERLOAD_API_QUERIES: calls waiting for c4router's
answer on the node). First the maximum sustainable rate: the highest of RATES where 99% of
the calls complete and none fails. Then FACTORS x that rate are offered, each for SECONDS,
by a caller that takes a 503 as an answer (tests/e2e/sipp/uac_load.xml): completed calls
(200) and refused ones (503, with how fast: SIPp's response-time buckets of the 503), failed
ones (timeouts, unexpected messages) and SIPp's retransmissions.

The load generator shares the machine's 2 cores with Kamailio, c4router and the carriers:
at 3x, SIPp itself takes a large share of them.

Then the cost of the capacity step (README "Capacity limits"): every tenant, PBX, IP source,
carrier and gateway of the bench data gets limits no call reaches, and the same rate (half
the maximum: every call completes) runs through a Kamailio with the limits off, then one
with them on (Redis counting: one EVALSHA when the call comes in, one per route relayed, one
per failed attempt, one at the end). The answers are the same in both runs: only Kamailio's
work differs, measured as its CPU per call, with Redis's own time per script call (INFO
commandstats).
"""

from __future__ import annotations

import re
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench import kamailio_load, procs
from bench.dataset import DB_PREFIX, KAMAILIO_PREFIX, TOKEN
from bench.procs import CONFIGS

if TYPE_CHECKING:
    from bench.main import Bench

RATES = (100, 200, 300, 400, 500, 600, 800, 1000, 1200, 1500)
FACTORS = (0.5, 1.0, 1.5, 2.0, 3.0)
SEARCH_SECONDS = 10  # as long as each factor: a shorter search overestimated the maximum
SECONDS = 10
# The bound of the run: calls waiting for c4router on the node (see kamailio.cfg "overload").
# c4router answers ~400-1200 calls/s on this machine: 32 waiting is 30-80 ms of its work,
# a queue short enough for a refusal to come fast (Little's law).
API_QUERIES = 32
FAST_MS = 50  # a refusal "fast": within this (SIPp's bucket <50 ms)
SUSTAINED = 0.99  # a rate is sustained when this share of its calls completes
# Limits of the capacity run: never reached (a refusal would change the work being measured).
CAPACITY_CALLS = 1_000_000
CAPACITY_CPS = 100_000


def _stats_int(stats: dict[str, str], name: str) -> int:
    try:
        return int(stats.get(name, "0") or 0)
    except ValueError:
        return 0


def offer(harness: Any, work: Path, sip_port: int, rate: int, seconds: int, tag: str) -> dict:
    """`rate` calls/s for `seconds` with uac_load.xml; what came back."""
    calls = rate * seconds
    stats_path = work / f"{tag}.stats.csv"
    bound = seconds + 30
    cmd = [
        "timeout", "-k", "5", str(bound + 10), harness.requirements().sipp or "sipp",
        "-sf", str(kamailio_load.SIPP_DIR / "uac_load.xml"), f"127.0.0.1:{sip_port}",
        "-s", f"{KAMAILIO_PREFIX}1234567", "-i", "127.0.0.1", "-p", str(harness.free_port()),
        "-mp", str(harness.free_port_block(4)), "-m", str(calls), "-r", str(rate), "-rp", "1000",
        "-d", str(kamailio_load.PAUSE_MS), "-timeout", f"{bound}s", "-recv_timeout", "10000",
        "-l", str(calls), "-nostdin", "-trace_stat", "-stf", str(stats_path), "-fd", "1",
        "-trace_err", "-error_file", str(work / f"{tag}.errors.log"),
    ]  # fmt: skip
    started = time.monotonic()
    process = procs.spawn(cmd, log=work / f"{tag}.out", cwd=work)
    try:
        process.wait(timeout=bound + 20)
    except subprocess.TimeoutExpired:
        pass
    finally:
        procs.stop(process)
    elapsed = time.monotonic() - started
    stats = kamailio_load.sipp_stats(stats_path)
    buckets = ("<10", "<20", "<50", "<100", "<200", "<500", "<1000", "<2000", ">=2000")
    refused_by = {b: _stats_int(stats, f"ResponseTimeRepartition2_{b}") for b in buckets}
    completed = sum(_stats_int(stats, f"ResponseTimeRepartition1_{b}") for b in buckets)
    refused = sum(refused_by.values())
    fast = refused_by["<10"] + refused_by["<20"] + refused_by["<50"]
    # The median refusal time, as SIPp's buckets give it: the bucket holding the middle one.
    median, seen = "", 0
    for bucket, count in refused_by.items():
        seen += count
        if refused and 2 * seen >= refused:
            median = bucket
            break
    failed = _stats_int(stats, "FailedCall(C)")
    timeouts = _stats_int(stats, "FailedMaxUDPRetrans(C)") + _stats_int(
        stats, "FailedTimeoutOnRecv(C)"
    )
    return {
        "rate": rate,
        "seconds": seconds,
        "calls": calls,
        "completed": completed,
        "refused": refused,
        "refused_fast": fast,
        "refused_median": median,
        "failed": failed,
        "missing": max(0, calls - completed - refused - failed),
        "timeouts": timeouts,
        "unexpected": unexpected_codes(work / f"{tag}.errors.log"),
        "retransmissions": _stats_int(stats, "Retransmissions(C)"),
        "elapsed_s": elapsed,
        "errors": kamailio_load.error_kinds(work / f"{tag}.errors.log"),
        "load": procs.loadavg().split()[0],
    }


def run(bench: Bench, quick: bool = False) -> dict[str, Any]:
    harness = kamailio_load._harness()
    missing = harness.missing_requirements()
    if missing:
        raise RuntimeError(f"overload section needs: {', '.join(missing)} (bin/install-kamailio)")
    from routing.kamailio_render import CAPACITY_OFF, render_kamailio_config

    req = harness.requirements()
    work = bench.work / "overload"
    work.mkdir(exist_ok=True)
    rates = RATES[:3] if quick else RATES
    factors = (1.0, 2.0) if quick else FACTORS
    seconds = 4 if quick else SECONDS
    search_seconds = 3 if quick else SEARCH_SECONDS
    # The carriers' own timeout: the search, the factors and the two capacity runs.
    bound = int((len(rates) + 2) * (search_seconds + 40) + len(factors) * (seconds + 40) + 60)
    out: dict[str, Any] = {"search": [], "steps": [], "api_queries": API_QUERIES}

    server = bench.server("c4router", CONFIGS[0])
    with server:
        fail_uas, fail_port, _ = kamailio_load.uas(harness, "uas_503.xml", work, "uas-503", bound)
        ok_uas, ok_port, _ = kamailio_load.uas(harness, "uas.xml", work, "uas-200", bound)
        bench.python(
            "-m", "bench.dataset", "set-gateways", "--db", DB_PREFIX, "--fail-port",
            str(fail_port), "--ok-port", str(ok_port), timeout=60,
        )  # fmt: skip
        kamailio_load.wait_routes(server.url, fail_port, ok_port)
        sip_port = harness.free_port()
        context = {
            "name": "bench", "listen_ip": "127.0.0.1", "listen_port": sip_port,
            "transport": "udp", "advertised_address": "",
            "api_urls": [f"{server.url}/kamailio/rtjson"], "api_timeout_ms": 2000,
            "api_token": TOKEN, "http_workers": 4, "children": 8, "fr_timer_ms": 5000,
            "fr_inv_timer_ms": 30000, "failover_codes": kamailio_load.FAILOVER_CODES,
            "http_async_client_module": req.http_async_client, "module_path": req.module_dir,
            "log_level": 1, "call_records": False,
            "cdr_amqp_url": "amqp://guest:guest@127.0.0.1:5672/%2F", "cdr_queue": "c4router.cdr",
            "max_call_seconds": 3600, **CAPACITY_OFF, "overload_api_queries": API_QUERIES,
            "api_breaker_failures": 3, "api_breaker_seconds": 30, "probes": [],
        }  # fmt: skip
        out["setup"] = (
            f"Kamailio children=8, http_async_client workers=4, overload bound {API_QUERIES} "
            f"calls waiting for c4router; search {search_seconds}s per rate, {seconds}s per factor"
        )
        kamailio = harness.KamailioProcess(
            render_kamailio_config(context), port=sip_port, workdir=work, shm_mb=256, pkg_mb=16
        )
        try:
            kamailio.start()
            assert kamailio.proc is not None
            procs.register(kamailio.proc)
            best = 0
            for rate in rates:
                step = offer(harness, work, sip_port, rate, search_seconds, f"search-{rate}")
                out["search"].append(step)
                print(
                    f"    search {rate:>5} calls/s: {step['completed']}/{step['calls']} "
                    f"completed, {step['refused']} refused, {step['failed']} failed",
                    flush=True,
                )
                # Sustained: 99% completed, none failed (on a shared machine, a hiccup of
                # another process refuses a few calls at any rate).
                if (
                    step["completed"] < SUSTAINED * step["calls"]
                    or step["failed"]
                    or step["missing"]
                ):
                    break
                best = rate
                time.sleep(2)
            out["max"] = best
            if not best:
                raise RuntimeError("no rate completed every call: no maximum to scale")
            for factor in factors:
                rate = int(best * factor)
                time.sleep(3)
                step = offer(harness, work, sip_port, rate, seconds, f"x{factor}")
                step["factor"] = factor
                out["steps"].append(step)
                print(f"    {summary_line(step, best)}", flush=True)
        finally:
            kamailio.stop()
        try:
            groups = {
                "c4router": server.process.pid if server.process else 0,
                "sipp_uas": [fail_uas.pid, ok_uas.pid],
            }
            rate = max(RATES[0], best // 2)
            out["capacity"] = capacity_cost(
                bench, harness, work, context, groups, rate, 4 if quick else SECONDS
            )
            print(f"    {capacity_line(out['capacity'])}", flush=True)
        finally:
            procs.stop(fail_uas)
            procs.stop(ok_uas)
    return out


def _evalsha() -> tuple[int, float]:
    """Redis's count of EVALSHA calls and their total time (µs) so far (INFO commandstats)."""
    import redis

    stats = redis.Redis(socket_timeout=2).info("commandstats").get("cmdstat_evalsha", {})
    return int(stats.get("calls", 0)), float(stats.get("usec", 0))


def capacity_cost(
    bench: Bench,
    harness: Any,
    work: Path,
    context: dict[str, Any],
    groups: dict[str, Any],
    rate: int,
    seconds: int,
) -> dict[str, Any]:
    """The same calls with Kamailio's capacity step off, then on (limits never reached)."""
    from routing.kamailio_render import render_kamailio_config

    out: dict[str, Any] = {"rate": rate, "seconds": seconds}
    bench.python(
        "-m", "bench.dataset", "set-limits", "--db", DB_PREFIX, "--calls", str(CAPACITY_CALLS),
        "--cps", str(CAPACITY_CPS), timeout=60,
    )  # fmt: skip
    server_url = context["api_urls"][0].rsplit("/kamailio/", 1)[0]
    try:
        out["limits"] = wait_limits(server_url)
        for on in (False, True):
            name = "on" if on else "off"
            run_dir = work / f"capacity-{name}"
            run_dir.mkdir(exist_ok=True)
            sip_port = harness.free_port()
            kamailio = harness.KamailioProcess(
                render_kamailio_config(
                    {**context, "listen_port": sip_port, "capacity": on, "overload_api_queries": 0}
                ),
                port=sip_port, workdir=run_dir, shm_mb=256, pkg_mb=16,
            )  # fmt: skip
            kamailio.start()
            assert kamailio.proc is not None
            procs.register(kamailio.proc)
            try:
                time.sleep(2)
                evalsha_before = _evalsha()
                step = kamailio_load.call_step(
                    harness,
                    run_dir,
                    sip_port,
                    rate,
                    seconds,
                    {**groups, "kamailio": kamailio.proc.pid},
                )
                evalsha_after = _evalsha()
            finally:
                kamailio.stop()
            step["kamailio_cpu_ms_per_call"] = (
                step["cpu_kamailio"] * step["elapsed_s"] / max(step["calls"], 1) * 1000
            )
            step["evalsha_calls"] = evalsha_after[0] - evalsha_before[0]
            step["evalsha_usec"] = evalsha_after[1] - evalsha_before[1]
            step["load"] = procs.loadavg().split()[0]
            out[name] = step
            print(
                f"    capacity {name}: {step['completed']}/{step['calls']} completed, "
                f"{step['failed']} failed; Kamailio {step['kamailio_cpu_ms_per_call']:.3f} ms "
                f"CPU per call; {step['evalsha_calls']} EVALSHA",
                flush=True,
            )
            time.sleep(2)
    finally:
        bench.python("-m", "bench.dataset", "set-limits", "--db", DB_PREFIX, timeout=60)
    return out


def wait_limits(url: str, timeout: float = 30.0) -> str:
    """Until c4router's answer for KAMAILIO_PREFIX names limits (the table was rebuilt); the
    call's limit spec."""
    import httpx

    body = (
        '{"source_ip":"127.0.0.1","source_port":5060,"call_id":"wait","from_uri":'
        f'"sip:alice@127.0.0.1","to_uri":"sip:{KAMAILIO_PREFIX}1234@127.0.0.1"}}'
    )
    deadline = time.monotonic() + timeout
    seen: Any = None
    while time.monotonic() < deadline:
        seen = httpx.post(
            f"{url}/kamailio/rtjson", content=body, timeout=2,
            headers={"Content-Type": "application/json", "X-C4-Token": TOKEN},
        ).json()  # fmt: skip
        answer = seen.get("rtjson", {})
        if answer.get("limits") and all(r.get("limits") for r in answer.get("routes") or [{}]):
            return " | ".join([answer["limits"], *(r["limits"] for r in answer["routes"])])
        time.sleep(0.2)
    raise RuntimeError(f"c4router's answer names no limits after set-limits: {seen}")


def capacity_line(cap: dict[str, Any]) -> str:
    """`capacity: 250 calls/s, limits off 0.650 ms of Kamailio CPU per call, on 0.800 ms
    (+0.150 ms, +23%), Redis 35 µs per EVALSHA, 4.0 per call; completed 2500/2500 and
    2500/2500`."""
    off, on = cap["off"], cap["on"]
    delta = on["kamailio_cpu_ms_per_call"] - off["kamailio_cpu_ms_per_call"]
    per_call = on["evalsha_calls"] / max(on["calls"], 1)
    usec = on["evalsha_usec"] / max(on["evalsha_calls"], 1)
    return (
        f"capacity: {cap['rate']} calls/s, limits off {off['kamailio_cpu_ms_per_call']:.3f} ms "
        f"of Kamailio CPU per call, on {on['kamailio_cpu_ms_per_call']:.3f} ms ({delta:+.3f} ms, "
        f"{100 * delta / max(off['kamailio_cpu_ms_per_call'], 1e-9):+.0f}%), Redis {usec:.0f} "
        f"µs per EVALSHA, {per_call:.1f} per call; completed {off['completed']}/{off['calls']} "
        f"off, {on['completed']}/{on['calls']} on"
    )


def unexpected_codes(path: Path, top: int = 3) -> str:
    """The final answers SIPp did not expect (neither 200 nor 503), e.g. "500 API Not
    Available x12", from its -trace_err file."""
    if not path.exists():
        return ""
    codes = Counter(
        f"{code} {reason.strip()}"
        for code, reason in re.findall(
            r"SIP/2\.0 ([2-6]\d\d) ([^\r\n]*)", path.read_text(errors="replace")
        )
        if code not in ("100", "180", "183")
    )
    return "; ".join(f"{text} x{count}" for text, count in codes.most_common(top))


def summary_line(step: dict[str, Any], best: int) -> str:
    """`overload 2.0x: offered 2400/s, completed 1150/s (96% of max 1200/s), refused fast
    1250/s, timeouts 0`, per second of the run."""
    seconds = step["seconds"]
    completed = step["completed"] / seconds
    return (
        f"overload {step['factor']:.1f}x: offered {step['rate']}/s, completed "
        f"{completed:.0f}/s ({100 * completed / best:.0f}% of max {best}/s), refused fast "
        f"{step['refused_fast'] / seconds:.0f}/s, timeouts {step['timeouts'] + step['missing']}"
        + (
            f" (other failures {step['failed'] - step['timeouts']}: {step['unexpected']})"
            if step["failed"] > step["timeouts"]
            else ""
        )
    )
