"""Calls/s through a real Kamailio, a 503 failover on every call, at increasing rates.

SIPp caller -> Kamailio (config rendered by routing/kamailio_render.py, querying the
running c4router) -> c4router answers two routes for KAMAILIO_PREFIX -> carrier 1, a SIPp
UAS answering 503 -> Kamailio fails over -> carrier 2, a SIPp UAS answering 200 -> ACK,
BYE through Kamailio. Each rate runs for a bounded time; the steps stop after the first
rate where calls fail. No -trace_msg here: at hundreds of calls/s, writing every message
would cost SIPp more than the calls do; SIPp's statistics file (-trace_stat) gives the
counts.
"""

from __future__ import annotations

import csv
import io
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench import procs
from bench.dataset import DB_PREFIX, KAMAILIO_PREFIX, TOKEN
from bench.procs import CONFIGS, REPO

if TYPE_CHECKING:
    from bench.main import Bench

SIPP_DIR = REPO / "tests" / "e2e" / "sipp"
RATES = (100, 200, 300, 500, 700, 900, 1200, 1500, 2000)
STEP_SECONDS = 8
FAILOVER_CODES = [408, 480, 500, 502, 503, 504]
# The caller's pause between ACK and BYE. A multi-process UDP proxy can reorder an ACK and a
# BYE sent back to back (shared/KAMAILIO.md); on a busy 2-core machine, by a few hundred ms:
# the SIPp carrier then aborts the call on a BYE before the ACK. A second keeps that harness
# artefact out of the figures (real calls last minutes).
PAUSE_MS = 1000


def _harness() -> Any:
    sys.path.insert(0, str(REPO / "tests" / "e2e"))
    import harness

    return harness


def sipp_stats(path: Path) -> dict[str, str]:
    """The last line of a SIPp -trace_stat file, by column name."""
    if not path.exists():
        return {}
    text = path.read_text(errors="replace")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    if len(rows) < 2:
        return {}
    header = rows[0]
    return dict(zip(header, rows[-1], strict=False))


def _count(stats: dict[str, str], name: str) -> int:
    try:
        return int(stats.get(name, "0") or 0)
    except ValueError:
        return 0


def uas(
    harness: Any, scenario: str, work: Path, tag: str, bound_s: int
) -> tuple[subprocess.Popen[bytes], int, Path]:
    port = harness.free_port()
    stats = work / f"{tag}.stats.csv"
    cmd = [
        "timeout",
        "-k",
        "5",
        str(bound_s),
        harness.requirements().sipp or "sipp",
        "-sf",
        str(SIPP_DIR / scenario),
        "-i",
        "127.0.0.1",
        "-p",
        str(port),
        "-mp",
        str(harness.free_port_block(4)),
        "-nostdin",
        "-timeout",
        f"{bound_s}s",
        "-trace_stat",
        "-stf",
        str(stats),
        "-fd",
        "1",
        "-trace_err",
        "-error_file",
        str(work / f"{tag}.errors.log"),
    ]
    process = procs.spawn(cmd, log=work / f"{tag}.out", cwd=work)
    # SIPp binds quickly; wait until its UDP port is taken.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and harness._port_is_free(port):
        if process.poll() is not None:
            raise RuntimeError(
                f"SIPp {tag} exited at start: {(work / f'{tag}.out').read_text()[-1000:]}"
            )
        time.sleep(0.05)
    return process, port, stats


def run(bench: Bench, quick: bool = False) -> dict[str, Any]:
    harness = _harness()
    missing = harness.missing_requirements()
    if missing:
        install = REPO / "bin" / "install-kamailio"
        print(f"  missing: {', '.join(missing)}; running bin/install-kamailio", flush=True)
        subprocess.run(["bash", str(install)], check=False, timeout=900)
        missing = harness.requirements(refresh=True).missing()
        if missing:
            raise RuntimeError(
                f"Kamailio section needs: {', '.join(missing)} (sudo bin/install-kamailio)"
            )
    from routing.kamailio_render import CAPACITY_OFF, OVERLOAD_OFF, render_kamailio_config

    req = harness.requirements()
    version = subprocess.run(
        [req.kamailio, "-v"], capture_output=True, text=True, check=False
    ).stdout
    kamailio_version = (
        version.split()[2] if version.startswith("version:") else version.split("\n")[0]
    )
    work = bench.work / "kamailio"
    work.mkdir(exist_ok=True)
    rates = RATES[:2] if quick else RATES
    seconds = 4 if quick else STEP_SECONDS
    bound = int(len(rates) * (seconds + 40) + 60)
    out: dict[str, Any] = {"kamailio_version": kamailio_version, "steps": []}

    server = bench.server("c4router", CONFIGS[0])
    with server:
        fail_uas, fail_port, fail_stats = uas(harness, "uas_503.xml", work, "uas-503", bound)
        ok_uas, ok_port, ok_stats = uas(harness, "uas.xml", work, "uas-200", bound)
        bench.python(
            "-m",
            "bench.dataset",
            "set-gateways",
            "--db",
            DB_PREFIX,
            "--fail-port",
            str(fail_port),
            "--ok-port",
            str(ok_port),
            timeout=60,
        )
        wait_routes(server.url, fail_port, ok_port)
        sip_port = harness.free_port()
        context = {
            "name": "bench",
            "listen_ip": "127.0.0.1",
            "listen_port": sip_port,
            "transport": "udp",
            "advertised_address": "",
            "api_urls": [f"{server.url}/kamailio/rtjson"],
            "api_timeout_ms": 2000,
            "api_token": TOKEN,
            "http_workers": 4,
            "children": 8,
            "fr_timer_ms": 5000,
            "fr_inv_timer_ms": 30000,
            "failover_codes": FAILOVER_CODES,
            "http_async_client_module": req.http_async_client,
            "module_path": req.module_dir,
            "log_level": bench.args.kamailio_log_level,
            "call_records": False,
            "cdr_amqp_url": "amqp://guest:guest@127.0.0.1:5672/%2F",
            "cdr_queue": "c4router.cdr",
            "max_call_seconds": 3600,
            **CAPACITY_OFF,
            **OVERLOAD_OFF,
            "api_breaker_failures": 3,
            "api_breaker_seconds": 30,
            "probes": [],
        }
        out["setup"] = (
            f"Kamailio children=8, http_async_client workers=4, debug={context['log_level']} "
            f"(logs to a file), -m 256 -M 16; {seconds}s per rate"
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
                groups = {
                    "kamailio": kamailio.proc.pid,
                    "c4router": server.process.pid if server.process else 0,
                    "sipp_uas": [fail_uas.pid, ok_uas.pid],
                }
                offset = kamailio.log_path.stat().st_size
                step = call_step(harness, work, sip_port, rate, seconds, groups)
                step.update(api_latency(kamailio.log_path, offset))
                out["steps"].append(step)
                print(
                    f"    {rate:>5} calls/s: {step['completed']}/{step['calls']} completed, "
                    f"{step['failed']} failed in {step['elapsed_s']:.1f}s; cores: kamailio "
                    f"{step['cpu_kamailio']:.2f}, c4router {step['cpu_c4router']:.2f}, sipp "
                    f"{step['cpu_sipp']:.2f}; {api_text(step)}",
                    flush=True,
                )
                if step["failed"] or step["completed"] < step["calls"]:
                    print(f"      SIPp errors: {step['errors']}", flush=True)
                    break
                best = rate
                time.sleep(2)
            out["best_clean_rate"] = best
        finally:
            kamailio.stop()
            procs.stop(fail_uas)
            procs.stop(ok_uas)
    fail_seen = _count(sipp_stats(fail_stats), "IncomingCall(C)")
    ok_seen = _count(sipp_stats(ok_stats), "IncomingCall(C)")
    out["note"] = (
        f"carrier 1 (503) received {fail_seen} INVITEs, carrier 2 (200) {ok_seen}: "
        "every completed call failed over"
    )
    if fail_seen < sum(s["completed"] for s in out["steps"]):
        out["note"] = f"carrier 1 (503) received {fail_seen} INVITEs, carrier 2 (200) {ok_seen}"
    return out


def wait_routes(
    url: str, fail_port: int, ok_port: int, timeout: float = 15.0, priced: bool | None = None
) -> None:
    """Until c4router answers the two SIPp carriers for KAMAILIO_PREFIX (the change is live);
    with `priced`, until the routes carry rates (a least-cost rule) or not."""
    import httpx

    body = (
        '{"source_ip":"127.0.0.1","source_port":5060,"call_id":"wait","from_uri":'
        f'"sip:alice@127.0.0.1","to_uri":"sip:{KAMAILIO_PREFIX}1234@127.0.0.1"}}'
    )
    want = [f"sip:127.0.0.1:{fail_port}", f"sip:127.0.0.1:{ok_port}"]
    deadline = time.monotonic() + timeout
    seen: Any = None
    while time.monotonic() < deadline:
        response = httpx.post(
            f"{url}/kamailio/rtjson",
            content=body,
            timeout=2,
            headers={"Content-Type": "application/json", "X-C4-Token": TOKEN},
        )
        seen = response.json()
        routes = seen.get("rtjson", {}).get("routes") or []
        if [route["dst_uri"] for route in routes] == want and (
            priced is None or ("rate" in routes[0].get("c4", {})) == priced
        ):
            return
        time.sleep(0.1)
    raise RuntimeError(f"c4router does not route {KAMAILIO_PREFIX} to the SIPp carriers: {seen}")


def error_kinds(path: Path, top: int = 3) -> str:
    """The most frequent kinds of SIPp's call errors (-trace_err), e.g. "Dead call x12"."""
    if not path.exists():
        return ""
    kinds: Counter[str] = Counter()
    for match in re.finditer(r"\d+\.\d+: ([^'\n]*)", path.read_text(errors="replace")):
        text = re.sub(r"[0-9]+-[0-9]+@[0-9.]+|[0-9]+", "N", match.group(1)).strip(" ,:")
        kinds[text[:90]] += 1
    return "; ".join(f"{kind} x{count}" for kind, count in kinds.most_common(top))


def udp_receive_drops() -> int:
    """UDP datagrams the kernel dropped because a socket's receive buffer was full (the
    whole machine's count: SIPp's and Kamailio's sockets, and anything else running)."""
    lines = [line.split() for line in Path("/proc/net/snmp").read_text().splitlines()]
    udp = [line for line in lines if line and line[0] == "Udp:"]
    if len(udp) < 2 or "RcvbufErrors" not in udp[0]:
        return 0
    return int(udp[1][udp[0].index("RcvbufErrors")])


def api_text(step: dict[str, Any]) -> str:
    drops = f"{step.get('udp_drops', 0)} UDP datagrams dropped (receive buffers full)"
    if step.get("api_p50_ms") is None:
        return f"no API timings in Kamailio's log (debug < 2); {drops}"
    return (
        f"c4router's answer seen by Kamailio: p50 {step['api_p50_ms']:.1f} ms, "
        f"p99 {step['api_p99_ms']:.1f} ms, {step['api_failed']} failed; {drops}"
    )


def api_latency(log: Path, offset: int) -> dict[str, Any]:
    """c4router's answer time as Kamailio saw it (http_async_client's $http_time(total)),
    from the log lines written since `offset`, and the failed API queries."""
    with log.open("rb") as handle:
        handle.seek(offset)
        text = handle.read().decode(errors="replace")
    times = sorted(int(us) for us in re.findall(r"API answer in (\d+) us", text))
    failed = len(re.findall(r"API #\d+ (?:failed|answered HTTP)", text))
    if not times:
        return {"api_p50_ms": None, "api_p99_ms": None, "api_failed": failed}
    return {
        "api_p50_ms": times[len(times) // 2] / 1000,
        "api_p99_ms": times[min(len(times) - 1, len(times) * 99 // 100)] / 1000,
        "api_failed": failed,
    }


def call_step(
    harness: Any,
    work: Path,
    sip_port: int,
    rate: int,
    seconds: int,
    groups: dict[str, Any],
) -> dict[str, Any]:
    calls = rate * seconds
    stats = work / f"uac-{rate}.stats.csv"
    bound = seconds + 30
    cmd = [
        "timeout",
        "-k",
        "5",
        str(bound + 10),
        harness.requirements().sipp or "sipp",
        "-sf",
        str(SIPP_DIR / "uac.xml"),
        f"127.0.0.1:{sip_port}",
        "-s",
        f"{KAMAILIO_PREFIX}1234567",
        "-i",
        "127.0.0.1",
        "-p",
        str(harness.free_port()),
        "-mp",
        str(harness.free_port_block(4)),
        "-m",
        str(calls),
        "-r",
        str(rate),
        "-rp",
        "1000",
        "-d",
        str(PAUSE_MS),
        "-timeout",
        f"{bound}s",
        "-recv_timeout",
        "10000",
        "-nostdin",
        "-trace_stat",
        "-stf",
        str(stats),
        "-fd",
        "1",
        "-trace_err",
        "-error_file",
        str(work / f"uac-{rate}.errors.log"),
    ]

    def cpu() -> dict[str, float]:
        return {
            name: sum(procs.cpu_seconds(procs.group_pids(pgid)) for pgid in
                      (pgids if isinstance(pgids, list) else [pgids]))
            for name, pgids in groups.items()
        }  # fmt: skip

    before = cpu()
    drops_before = udp_receive_drops()
    started = time.monotonic()
    process = procs.spawn(cmd, log=work / f"uac-{rate}.out", cwd=work)
    sipp_cpu = 0.0
    try:
        deadline = started + bound + 20
        while process.poll() is None and time.monotonic() < deadline:
            sipp_cpu = procs.cpu_seconds(procs.group_pids(process.pid)) or sipp_cpu
            time.sleep(0.25)
    finally:
        procs.stop(process)
    elapsed = time.monotonic() - started
    after = cpu()
    result = sipp_stats(stats)
    completed = _count(result, "SuccessfulCall(C)")
    failed = _count(result, "FailedCall(C)")
    return {
        "rate": rate,
        "calls": calls,
        "completed": completed,
        "failed": failed + max(0, calls - completed - failed),
        "elapsed_s": elapsed,
        "exit": process.returncode,
        "cpu_kamailio": (after["kamailio"] - before["kamailio"]) / elapsed,
        "cpu_c4router": (after["c4router"] - before["c4router"]) / elapsed,
        "cpu_sipp": (sipp_cpu + after["sipp_uas"] - before["sipp_uas"]) / elapsed,
        "errors": error_kinds(work / f"uac-{rate}.errors.log"),
        "udp_drops": udp_receive_drops() - drops_before,
    }
