"""A burst of malformed and hostile routing queries against a running c4router (gunicorn,
2 uvicorn workers, as in production): no 5xx, every answer a JSON error (or a valid rtjson
answer for the valid queries mixed in), the server still routes afterwards, its workers
neither die nor grow.

The requests (tests/faults/hostile.py): invalid JSON, wrong types, fields and bodies at and
past the size limits, control characters, wrong content types, missing/wrong/huge tokens,
truncated bodies, chunked bodies; on their own connections, bodies promised but never sent,
valid queries dribbled slowly, 1 MiB bodies and requests cut in the headers.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from pathlib import Path

import pytest

from tests.live import C4RouterServer

from . import hostile
from .conftest import TOKEN, admin_api, first_hop, make_world, readyz, wait_for

pytestmark = pytest.mark.faults

WARMUP = 5_000  # requests before the first memory reading
BURST = 20_000  # requests between the two readings
CONCURRENCY = 16  # keep-alive connections of the burst
ABUSE = 400  # framing abuse, one connection each (100 of each kind)
# Worker RSS may grow by at most this much between the warm-up and the end of the burst.
# Measured here (2 cores, Python 3.11, gunicorn + 2 uvicorn workers): 44-156 kB per worker
# over the 20,000 requests, i.e. allocator noise. 4 MB is 25x that, and would still catch a
# leak of 200 bytes per request (a leaked error string, a cached parse) over the burst.
MAX_GROWTH_KB = 4 * 1024


def worker_pids(master: int) -> list[int]:
    """The gunicorn workers: the processes whose parent is the master."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == master:
            pids.append(int(stat.parent.name))
    return sorted(pids)


def rss_kb(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    found = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
    assert found, status
    return int(found.group(1))


async def fire(port: int, items: list[hostile.Hostile], count: int, abuse: int, routed_to: str):  # type: ignore[no-untyped-def]
    return await asyncio.gather(
        hostile.burst(port, TOKEN.encode(), items, count, concurrency=CONCURRENCY,
                      routed_to=routed_to),
        hostile.framing_abuse(port, TOKEN.encode(), abuse, concurrency=8),
    )  # fmt: skip


def test_malformed_burst_no_5xx_and_flat_memory(database_url, tmp_path):
    with (
        C4RouterServer(tmp_path, database_url=database_url, server="gunicorn", workers=2) as server,
        admin_api(server) as api,
    ):
        world = make_world(api, [f"{server.url}/kamailio/rtjson"])
        alpha_uri = f"sip:127.0.0.1:{world.alpha_port}"
        # Both workers have the new data once 20 answers in a row (fresh connections) route.
        streak = Counter()
        wait_for(
            lambda: streak.update(ok=1) or streak["ok"] >= 20
            if first_hop(server) == alpha_uri
            else streak.clear(),
            10, "both workers route",
        )  # fmt: skip
        workers = worker_pids(server.process.pid)
        assert len(workers) == 2, workers
        items = hostile.variants()

        warm_tally, warm_abuse = asyncio.run(fire(server.port, items, WARMUP, 100, alpha_uri))
        rss_warm = {pid: rss_kb(pid) for pid in workers}
        tally, abuse = asyncio.run(fire(server.port, items, BURST, ABUSE, alpha_uri))
        rss_end = {pid: rss_kb(pid) for pid in workers}

        # No worker died or was replaced on the way.
        assert worker_pids(server.process.pid) == workers
        # Still routing, still ready.
        assert first_hop(server) == alpha_uri
        assert readyz(server)[1]["status"] == "ok"
        log = server.log_text()

    tally.merge(warm_tally)
    abuse.update(warm_abuse)
    assert tally.problems == [], "\n".join(tally.problems)
    assert tally.sent == WARMUP + BURST
    assert sum(tally.statuses.values()) == WARMUP + BURST
    assert not [s for s in tally.statuses if s >= 500], tally.statuses
    routed = sum(n for (name, status), n in tally.by_variant.items() if status == 200)
    assert routed > 0 and tally.statuses[400] > 0 and tally.statuses[403] > 0
    assert tally.statuses[415] > 0
    # Framing abuse: slow bodies answered, 1 MiB bodies refused with a JSON error or cut;
    # never a server error (a "bad-5xx" outcome) nor a connection that hung (a timeout).
    kinds = Counter()
    for outcome, n in abuse.items():
        kinds[outcome.split(":")[0]] += n
    assert sum(abuse.values()) == 100 + ABUSE, abuse
    assert abuse["slow:200"] == kinds["slow"] and kinds["slow"] > 0, abuse
    assert abuse["oversized:400"] + abuse["oversized:cut"] == kinds["oversized"] > 0, abuse
    assert not [o for o in abuse if "bad" in o or "timeout" in o], abuse
    assert "Traceback" not in log and "Internal Server Error" not in log, log[-3000:]

    growth = {pid: rss_end[pid] - rss_warm[pid] for pid in workers}
    assert max(growth.values()) < MAX_GROWTH_KB, (rss_warm, rss_end)
    print(
        f"\nfigures: {tally.sent} hostile requests + {sum(abuse.values())} framing abuses; "
        f"statuses {dict(sorted(tally.statuses.items()))}; abuse {dict(sorted(abuse.items()))}; "
        f"worker RSS after warm-up {rss_warm} kB, after the burst {rss_end} kB, growth "
        f"{growth} kB"
    )
