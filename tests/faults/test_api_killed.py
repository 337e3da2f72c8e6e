"""An API server killed under load: Kamailio's calls still complete through the next API URL.

Two real c4router servers (uvicorn, one process each, two ports, as two API hosts would be)
on one database; the RouterInstance lists A then B, so Kamailio asks A and, when A fails,
asks B for the same call (RELAY_API_RESPONSE in kamailio_cfg/kamailio.cfg). A SIPp caller
places calls at a steady rate; mid-run A is killed with SIGKILL (a crash: no graceful
shutdown, its connections die with it).
"""

from __future__ import annotations

import re
import time
from statistics import median

import pytest

from tests.live import C4RouterServer

from .conftest import (
    CallLoad,
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
KILL_AT = 2.5  # s after the first call
API_TIMEOUT_MS = 1000


def test_api_server_killed_under_load(database_url, start_edge, carriers, tmp_path):
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
        load = CallLoad(edge, tmp_path, RATE, CALLS).start()
        load.sleep_until(KILL_AT)
        a_at_kill = routed_count(server_a)
        b_at_kill = routed_count(server_b)
        server_a.kill()
        killed_wall = time.time()

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
    after_kill = [m for m in invites if (m.time or 0) > killed_wall]
    assert len(after_kill) >= (CALLS / RATE - KILL_AT) * RATE * 0.6
    assert b_after - b_at_kill >= len(after_kill), (b_at_kill, b_after, len(after_kill))

    # How Kamailio saw A fail: refused connections for the calls after the kill, "reset by
    # peer" for a query A had on the wire when it died (those calls went to B as well). No
    # query waited for the API timeout: a dead local API is noticed at once.
    errors = re.findall(r"API #0 failed: (.*)", edge.log_text())
    refused = sum("Couldn't connect" in e for e in errors)
    reset = sum("reset by peer" in e or "Empty reply" in e for e in errors)
    assert refused + reset == len(errors) >= len(after_kill), sorted(set(errors))
    before_ms, after_ms = setup_times(result, killed_wall)
    assert median(after_ms) < 250, after_ms
    print(
        f"\nfigures: A killed {KILL_AT}s into {CALLS} calls at {RATE}/s; calls placed "
        f"{counts['created']}, completed {counts['successful']}, failed {counts['failed']}; "
        f"{len(after_kill)} calls after the kill, B answered {b_after - b_at_kill:.0f} queries; "
        f"Kamailio saw A refuse {refused} and reset {reset} in-flight queries; INVITE->180 "
        f"median {median(before_ms):.1f} ms before the kill, {median(after_ms):.1f} ms "
        f"(max {max(after_ms):.1f}) after"
    )


def setup_times(result, killed_wall: float) -> tuple[list[float], list[float]]:  # type: ignore[no-untyped-def]
    """INVITE -> 180 of each call (ms), for the calls placed before and after the kill."""
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
            (after if started > killed_wall else before).append((m.time - started) * 1000)
    return before, after
