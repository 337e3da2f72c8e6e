"""Where a c4router worker spends its time under load: py-spy on one worker while wrk runs.

    bench/profile [--seconds 15] [--server gunicorn|uvicorn] [--workers 2] [--connections 64]
                  [--db c4router_bench] [--rate 250] [--top 25] [--native] [--lines] [--out DIR]
    bench/profile --in-process      # pyinstrument over handle_rtjson() alone, no server

Starts c4router as bench/run does (production settings, the bench database), loads it with
wrk and the bench query pool, records one worker with `py-spy record --format raw` (the
collapsed stacks are kept in --out: open them in speedscope or flamegraph.pl), and prints
the top frames by own time and by total time, and the own time per package. py-spy samples
from outside the process (ptrace): the worker runs unmodified, a little slower while sampled.
The report is about the event loop thread, where requests are served (py-spy's idle
detection does not work on this machine: every thread is sampled at every tick, so the
loop's idle time shows as the own time of Runner.run, where uvloop waits in epoll); the
other threads (the table reload thread, the database pool's, the executor's) are summed
apart, their waits left out. Time inside C code (uvloop, httptools, orjson) counts for the
Python frame that called it.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench import procs
from bench.dataset import DB_PREFIX, TOKEN, server_url
from bench.procs import REPO, Server, ServerConfig
from bench.queries import build_pool, write_pool

LOOP_FRAME = "Runner.run (asyncio/runners.py"
WAITS = ("Condition.wait", "Event.wait", "Queue.get", "_worker (concurrent/futures", "select")


def parse_collapsed(text: str) -> tuple[Counter[str], Counter[str], int, Counter[str]]:
    """From py-spy's raw output: own and total samples per frame of the event loop thread,
    its sample count, and the busy (non-waiting) leaf frames of the other threads."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    others: Counter[str] = Counter()
    samples = 0
    for line in text.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [f for f in stack.split(";") if not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        if not any(frame.startswith(LOOP_FRAME) for frame in frames):
            if not frames[-1].startswith(WAITS):
                others[frames[-1]] += count
            continue
        samples += count
        own[frames[-1]] += count
        for frame in set(frames):
            total[frame] += count
    return own, total, samples, others


_FILE_RE = re.compile(r"\((.*?)(?::\d+)?\)$")


def package_of(frame: str) -> str:
    """A frame's package: routing/engine, uvicorn, asyncio, logging, ..."""
    match = _FILE_RE.search(frame)
    path = match.group(1) if match else frame
    if "site-packages/" in path:
        path = path.split("site-packages/", 1)[1]
    parts = path.split("/")
    if parts[0] in ("routing", "c4router") and len(parts) > 2:
        return "/".join(parts[:2])
    if parts[0].startswith("<"):
        return parts[0]
    return parts[0].removesuffix(".py")


def report(text: str, top: int) -> str:
    own, total, samples, others = parse_collapsed(text)
    if not samples:
        return "no samples of the event loop thread"
    lines = [f"{samples} samples of the event loop thread (100% = the wall time of the recording)"]
    lines.append(f"\ntop {top} frames by own time (the frame itself, not what it calls)")
    for frame, count in own.most_common(top):
        lines.append(f"  {count * 100 / samples:5.1f}%  {frame}")
    lines.append(f"\ntop {top} frames by total time (the frame and everything it calls)")
    for frame, count in total.most_common(top + 12):
        if count * 100 / samples < 99.5:  # skip the chain of frames every sample has
            lines.append(f"  {count * 100 / samples:5.1f}%  {frame}")
    packages: Counter[str] = Counter()
    for frame, count in own.items():
        packages[package_of(frame)] += count
    lines.append("\nown time per package (event loop thread)")
    for package, count in packages.most_common(15):
        lines.append(f"  {count * 100 / samples:5.1f}%  {package}")
    busy = sum(others.values())
    lines.append(f"\nother threads, not waiting: {busy * 100 / samples:.1f}% of the wall time")
    for frame, count in others.most_common(5):
        lines.append(f"  {count * 100 / samples:5.1f}%  {frame}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bench/profile",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--server", choices=("gunicorn", "uvicorn"), default="gunicorn")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--db", default=DB_PREFIX)
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--native", action="store_true", help="py-spy --native (C frames too)")
    parser.add_argument(
        "--lines", action="store_true", help="one frame per line of code, not per function"
    )
    parser.add_argument("--out", type=Path, help="keep the collapsed stacks in this directory")
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="pyinstrument over handle_rtjson() in one process, no server",
    )
    args = parser.parse_args(argv)

    procs.install_cleanup()
    work = Path(tempfile.mkdtemp(prefix="c4router-profile-"))
    out_dir = args.out or work
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run(
            [sys.executable, "-m", "bench.dataset", "ensure", "--db", args.db],
            cwd=REPO,
            check=True,
            stdout=subprocess.DEVNULL,
            timeout=1800,
        )
        bodies, _ = build_pool(args.db, 8000)
        pool = work / "pool.txt"
        write_pool(pool, bodies)
        if args.in_process:
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "bench.measure",
                    "--db",
                    args.db,
                    "--pool",
                    str(pool),
                    "--profile",
                ],
                cwd=REPO,
                check=True,
                timeout=900,
            )
            return 0
        config = ServerConfig(f"{args.server} -w {args.workers}", args.server, args.workers)
        server = Server("c4router", config, procs.production_env(server_url(args.db)), work)
        with server:
            worker = server.worker_pids()[0]
            procs.run_wrk(server.url, pool, TOKEN, args.connections, 2)  # warm-up
            wrk = procs.start_wrk(server.url, pool, TOKEN, args.connections, args.seconds + 3)
            time.sleep(1)
            raw = out_dir / f"py-spy-{worker}.txt"
            cmd = [
                str(Path(sys.executable).with_name("py-spy")),
                "record",
                "--pid",
                str(worker),
                "--duration",
                f"{args.seconds:.0f}",
                "--rate",
                str(args.rate),
                "--format",
                "raw",
                "--output",
                str(raw),
            ]
            if not args.lines:
                cmd.append("--function")
            if args.native:
                cmd.append("--native")
            spy = procs.spawn(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            spy_out = spy.communicate(timeout=args.seconds + 60)[0].decode(errors="replace")
            procs.stop(spy)
            load = procs.finish_wrk(wrk, timeout=args.seconds + 30)
        if not raw.exists():
            print(f"py-spy failed:\n{spy_out[-2000:]}")
            return 1
        print(
            f"c4router {config.label} on {args.db}, wrk c{args.connections}: "
            f"{load.rps:,.0f} req/s, p50 {load.p50_ms:.2f} ms, p99 {load.p99_ms:.2f} ms, "
            f"errors {load.errors} (while py-spy sampled worker {worker} at {args.rate} Hz)"
        )
        print(report(raw.read_text(), args.top))
        print(f"\ncollapsed stacks: {raw} (speedscope.app or flamegraph.pl read them)")
    finally:
        procs.stop_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
