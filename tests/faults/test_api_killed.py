"""An API server killed under load: Kamailio's calls still complete through the next API URL.

Two real c4router servers (uvicorn, one process each, two ports, as two API hosts would be)
on one database; the RouterInstance lists A then B, so Kamailio asks A and, when A fails,
asks B for the same call (RELAY_API_RESPONSE in kamailio_cfg/kamailio.cfg). A SIPp caller
places calls at a steady rate; mid-run A freezes (SIGSTOP: a stuck worker; the kernel still
accepts connections and queries pile up in flight) and 0.3 s later is killed with SIGKILL (a
crash: no graceful shutdown, its connections die with it).

What Kamailio sees: for the queries in flight at the kill, "Connection reset by peer"; for
every later call, "Couldn't connect" at once (port closed). Both are failures of URL #0:
RELAY_API_RESPONSE asks URL #1 (B) for the same call, so no call fails, and none waits for
the API timeout (api_timeout_ms only matters for an API that hangs without dying: a frozen
host costs each call up to api_timeout_ms before B is asked, until A's circuit breaker
opens). After 3 failures (the instance's api_breaker_failures) A's breaker opens and the
later calls go to B without asking A at all.
"""

from __future__ import annotations

import os
import re
import signal
import time
from statistics import median

import pytest

from tests.live import C4RouterServer

from .conftest import (
    admin_api,
    first_hop,
    make_world,
    routed_count,
    sipp_counts,
    wait_for,
)

pytestmark = pytest.mark.faults

RATE = 50  # calls/s
CALLS = 300  # 6 s of calls
KILL_AT = 2.5  # s after the first call: A freezes
FREEZE = 0.3  # s frozen before SIGKILL: the queries sent meanwhile are in flight at the kill
API_TIMEOUT_MS = 1000


def test_api_server_killed_under_load(database_url, start_edge, carriers, call_load, tmp_path):
    url = database_url
    with (
        C4RouterServer(tmp_path, database_url=url) as server_a,
        C4RouterServer(tmp_path, database_url=url) as server_b,
        admin_api(server_a) as api,
    ):
        world = make_world(
            api, [f"{server_a.url}/kamailio/rtjson", f"{server_b.url}/kamailio/rtjson"],
            api_timeout_ms=API_TIMEOUT_MS,
        )  # fmt: skip
        alpha_uri = f"sip:127.0.0.1:{world.alpha_port}"
        for server in (server_a, server_b):
            wait_for(lambda s=server: first_hop(s) == alpha_uri, 5, "both servers route")
        edge = start_edge(world, url)
        alpha = carriers(world.alpha_port, "alpha", calls=CALLS)

        a_before, b_before = routed_count(server_a), routed_count(server_b)
        load = call_load(edge, RATE, CALLS)
        load.sleep_until(KILL_AT)
        a_at_kill = routed_count(server_a)
        b_at_kill = routed_count(server_b)
        os.killpg(server_a.process.pid, signal.SIGSTOP)
        frozen_wall = time.time()
        time.sleep(FREEZE)
        server_a.kill()

        result = load.wait()
        seen_alpha = alpha.wait(15)
        b_after = routed_count(server_b)

    counts = sipp_counts(result)
    assert result.ok and counts == {"created": CALLS, "successful": CALLS, "failed": 0}, (
        f"{counts}\n{result.stdout[-3000:]}\n{result.error_log[-2000:]}\n{edge.log_tail()}"
    )
    assert len(seen_alpha.received("INVITE")) == CALLS
    # Before the kill A answered (B only for the probes); after it, B answered every call.
    assert a_at_kill - a_before >= KILL_AT * RATE * 0.6, (a_before, a_at_kill)
    assert b_at_kill == b_before, (b_before, b_at_kill)
    invites = [m for m in result.messages if m.method == "INVITE" and m.direction == "sent"]
    after_freeze = [m for m in invites if (m.time or 0) > frozen_wall]
    assert len(after_freeze) >= (CALLS / RATE - KILL_AT) * RATE * 0.6
    assert b_after - b_at_kill >= len(after_freeze), (b_at_kill, b_after, len(after_freeze))

    # How Kamailio saw A fail: "reset by peer" for the queries in flight at the kill (sent
    # while A was frozen), refused connections for the calls after it. None timed out: the
    # frozen calls waited for the kill (FREEZE), not for the API timeout.
    log = edge.log_text()
    errors = re.findall(r"API #0 failed: (.*)", log)
    refused = sum("Couldn't connect" in e for e in errors)
    reset = sum("reset by peer" in e or "Empty reply" in e for e in errors)
    assert refused + reset == len(errors), sorted(set(errors))
    assert reset >= FREEZE * RATE * 0.5, (reset, refused)
    # A's circuit breaker (the instance's api_breaker_failures, 3 by default): once open,
    # the later calls do not ask A at all, they go to B at once. Every call after the
    # freeze either saw A fail or skipped it.
    skipped = len(re.findall(r"API #0 skipped: its breaker is open", log))
    assert "breaker open for 30 s" in log
    assert len(errors) + skipped >= len(after_freeze), (len(errors), skipped)
    before_ms, after_ms = setup_times(result, frozen_wall)
    assert median(after_ms) < 250, after_ms
    assert max(after_ms) < API_TIMEOUT_MS, after_ms
    print(
        f"\nfigures: A frozen {KILL_AT}s into {CALLS} calls at {RATE}/s; calls placed "
        f"{counts['created']}, completed {counts['successful']}, failed {counts['failed']}; "
        f"{len(after_freeze)} calls after A froze, B answered {b_after - b_at_kill:.0f} "
        f"queries; Kamailio saw A reset {reset} queries in flight at the kill and refuse "
        f"{refused}, then skipped it {skipped} times (breaker open); INVITE->180 median "
        f"{median(before_ms):.1f} ms before, "
        f"{median(after_ms):.1f} ms (max {max(after_ms):.1f}) after"
    )


def setup_times(result, since: float) -> tuple[list[float], list[float]]:  # type: ignore[no-untyped-def]
    """INVITE -> 180 of each call (ms), for the calls placed before and after `since`."""
    sent: dict[str, float] = {}
    before, after = [], []
    for m in result.messages:
        if m.time is None:
            continue
        call_id = m.header("Call-ID")
        if m.method == "INVITE" and m.direction == "sent":
            sent.setdefault(call_id, m.time)
        elif m.status == 180 and call_id in sent:
            started = sent.pop(call_id)
            (after if started > since else before).append((m.time - started) * 1000)
    return before, after
