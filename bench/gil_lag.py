"""How long an asyncio event loop waits for Python's GIL while another thread computes.

    .venv/bin/python -m bench.gil_lag [--seconds 1] [--rounds 2]

A worker's event loop answers Kamailio; its reload thread patches the routing table after
an import (0.3-0.4 s of CPU for 10,000 rules), an export computes its batches in a thread.
Meanwhile, at each wake-up the loop waits for the GIL until the computing thread is told
to let go: sys.getswitchinterval(), 5 ms by Python's default. This measures the loop's lag
(an `asyncio.sleep(0.001)` that overshoots) with a thread running pure-Python arithmetic,
for switch intervals of 5, 1 and 0.5 ms (c4router's workers use C4ROUTER_SWITCH_INTERVAL_US,
500 by default). One process, one core's worth of CPU for `seconds` x 3 x `rounds`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import threading
import time

INTERVALS_S = (0.005, 0.001, 0.0005)


def _compute(stop: threading.Event) -> None:
    total = 0
    while not stop.is_set():
        for i in range(10_000):
            total += i * i % 7


async def _lags(seconds: float) -> list[float]:
    lags = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        started = time.perf_counter()
        await asyncio.sleep(0.001)
        lags.append((time.perf_counter() - started - 0.001) * 1000)
    return sorted(lags)


def measure(interval: float, seconds: float, *, busy: bool = True) -> tuple[float, float, int]:
    """The loop's lag p50 and p99 (ms) and its wake-ups per second."""
    sys.setswitchinterval(interval)
    stop = threading.Event()
    thread = threading.Thread(target=_compute, args=(stop,), daemon=True)
    if busy:
        thread.start()
    try:
        lags = asyncio.run(_lags(seconds))
    finally:
        stop.set()
        if busy:
            thread.join()
    return lags[len(lags) // 2], lags[int(len(lags) * 0.99)], round(len(lags) / seconds)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.gil_lag")
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    p50, p99, rate = measure(0.005, args.seconds, busy=False)
    print(f"no other thread:  loop lag p50 {p50:.2f} ms, p99 {p99:.2f} ms, {rate} wake-ups/s")
    for _ in range(args.rounds):
        for interval in INTERVALS_S:
            p50, p99, rate = measure(interval, args.seconds)
            print(
                f"switch interval {interval * 1000:.1f} ms, a thread computing: loop lag "
                f"p50 {p50:.2f} ms, p99 {p99:.2f} ms, {rate} wake-ups/s"
            )


if __name__ == "__main__":
    main()
