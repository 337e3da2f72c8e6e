"""In one process, without a server: table build time and memory, and the endpoint's own cost.

    python -m bench.measure --db c4router_bench --pool POOL [--raw-body OUT] [--profile]

Prints one JSON line (RESULT {...}): the time to build the table from the database as a
worker does (routing.loader.TableHolder.refresh: the rows stream into the indexes), the
process RSS before and after, and its peak (VmHWM), the same for a rebuild with the table
in use (a bulk import: the old table serves until the new one replaces it), the time of
one full garbage
collection with the table alive (a pause a worker takes whenever Python's collector runs a
generation-2 pass: it walks every object of the table), the microseconds per
routing.endpoint.handle_rtjson() call over the query pool (parse, decide, serialise: what
the lean ASGI handler adds on top of the server), the same through c4router.asgi's
application on an event loop without a server, and the mix of answers. --raw-body writes
a routed answer of median size: the fixed body bench/raw_asgi.py serves. --profile runs
the handle loop under pyinstrument and prints its report.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.dataset import TOKEN, _setup_django
from bench.queries import read_pool


def rss_mb(pid: int | str = "self", field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def asgi_per_request(bodies: list[bytes], rounds: int = 3) -> float:
    """Microseconds per request through c4router.asgi.application itself (the lean handler
    and handle_rtjson), called on an event loop with in-memory receive/send: no server, no
    socket. The difference with the server's CPU per request is the server's share."""
    import asyncio

    from c4router.asgi import application

    headers = [(b"host", b"127.0.0.1"), (b"content-type", b"application/json"),
               (b"x-c4-token", TOKEN.encode())]  # fmt: skip

    async def one(body: bytes) -> None:
        messages = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive() -> dict[str, object]:
            return messages.pop()

        async def send(message: object) -> None:
            return None

        scope = {"type": "http", "method": "POST", "path": "/kamailio/rtjson",
                 "headers": headers, "client": ("127.0.0.1", 40000)}  # fmt: skip
        await application(scope, receive, send)

    async def loop() -> float:
        for body in bodies:  # warm-up
            await one(body)
        timings = []
        for _ in range(rounds):
            started = time.perf_counter()
            for body in bodies:
                await one(body)
            timings.append((time.perf_counter() - started) / len(bodies) * 1e6)
        return statistics.median(timings)

    return asyncio.run(loop())


def reset_peak_rss() -> None:
    """Start VmHWM over from the current RSS (Linux: clear_refs 5), so that the next peak
    read is the peak of what runs in between."""
    Path("/proc/self/clear_refs").write_text("5")


def patch_one_rule(holder: Any) -> dict[str, float]:
    from django.db import transaction

    from routing.models import RouteRule

    with transaction.atomic():
        rule = RouteRule.objects.filter(enabled=True).order_by("id").first()
        if rule is None:
            return {}
        rule.prefix = (rule.prefix + "9")[:20]
        rule.save()
        reset_peak_rss()
        started = time.perf_counter()
        holder.refresh()
        seconds = time.perf_counter() - started
        transaction.set_rollback(True)
    return {"patch_one_ms": seconds * 1000, "patch_peak_mb": rss_mb(field="VmHWM")}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.measure")
    parser.add_argument("--db", required=True)
    parser.add_argument("--pool", type=Path, required=True)
    parser.add_argument("--raw-body", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args(argv)

    _setup_django(args.db)
    from django.conf import settings

    import c4router.asgi  # noqa: F401  (what a worker has imported before its first build)
    from routing.endpoint import handle_rtjson
    from routing.loader import holder

    settings.C4ROUTER["RELOAD_THREAD"] = False
    gc.collect()
    rss_before = rss_mb()
    started = time.perf_counter()
    holder.refresh()  # as a worker builds (and then freezes) its table
    built = time.perf_counter()
    table = holder.table
    assert table is not None
    version = table.version
    rss_after = rss_mb()
    rss_peak = rss_mb(field="VmHWM")
    # What one full collection costs with the table alive, the table frozen out of the
    # collector's scans as the workers do: without the freeze, each generation-2
    # collection would walk every object of the table.
    started_gc = time.perf_counter()
    gc.collect()
    full_gc_s = time.perf_counter() - started_gc
    tracked = len(gc.get_objects())

    bodies = read_pool(args.pool)
    answers: Counter[str] = Counter()
    routed_sizes: list[tuple[int, bytes]] = []
    sizes = []
    for body in bodies:
        status, answer = handle_rtjson(
            body, content_type="application/json", token=TOKEN, client_ip="127.0.0.1"
        )
        sizes.append(len(answer))
        document = json.loads(answer)["rtjson"] if status == 200 else {}
        if status != 200:
            answers[f"HTTP {status}"] += 1
        elif document.get("success"):
            routes = len(document["routes"])
            answers[f"routed ({min(routes, 3)}{'+' if routes > 3 else ''} routes)"] += 1
            routed_sizes.append((len(answer), answer))
        else:
            answers[f"refused {document['code']}"] += 1

    def handle_all() -> float:
        started = time.perf_counter()
        for body in bodies:
            handle_rtjson(body, content_type="application/json", token=TOKEN, client_ip="127.0.0.1")
        return (time.perf_counter() - started) / len(bodies) * 1e6

    per_call = []
    if args.profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0005)
        with profiler:
            per_call.append(handle_all())
        print(profiler.output_text(unicode=True, color=False, show_all=False))
    else:
        handle_all()  # warm caches (IP parsing, allowed clients)
        per_call = [handle_all() for _ in range(args.rounds)]

    asgi_us = asgi_per_request(bodies)

    if args.raw_body and routed_sizes:
        routed_sizes.sort(key=lambda item: item[0])
        args.raw_body.write_bytes(routed_sizes[len(routed_sizes) // 2][1])
    result = {
        "db": args.db,
        "version": version,
        "total_s": built - started,
        "rss_before_mb": rss_before,
        "rss_after_mb": rss_after,
        "rss_peak_mb": rss_peak,
        "counts": table.counts,
        "handle_us": statistics.median(per_call),
        "asgi_us": asgi_us,
        "full_gc_ms": full_gc_s * 1000,
        "gc_tracked_objects": tracked,
        "answers": dict(answers.most_common()),
        "answer_bytes_mean": statistics.mean(sizes),
        "raw_body_bytes": args.raw_body.stat().st_size if args.raw_body else 0,
        "queries": len(bodies),
    }
    # One edit (a rule moved to another prefix, rolled back afterwards): the patch a worker
    # applies, its time and the peak RSS meanwhile (before the rebuild below raises it).
    result.update(patch_one_rule(holder))
    # A full rebuild with the table in use, as after a bulk import: the old table serves
    # until the new one is swapped in, so both are alive for a moment.
    del table
    reset_peak_rss()
    started = time.perf_counter()
    holder.refresh(force=True)
    result["rebuild_s"] = time.perf_counter() - started
    result["rebuild_peak_mb"] = rss_mb(field="VmHWM")
    result["rss_after_rebuild_mb"] = rss_mb()
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    sys.exit(main())
