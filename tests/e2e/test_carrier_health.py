"""Carrier health on the wire: real c4router (ASGI, PostgreSQL), a real Kamailio rendered by
`manage.py render_kamailio_config`, SIPp carriers answering OPTIONS (-aa) and calls.

- A probed gateway dies (its SIPp stops: no OPTIONS, no INVITE answered), is marked down by
  the probes, the answers skip it; it comes back, is marked up, the answers use it again.
  Every call completes, and the post-dial delay with the dead first gateway falls from its
  timer to near zero once it is marked down.
- A frozen API URL (accepts, never answers): after the breaker's failures, calls go straight
  to the second URL, and the frozen one gets no more queries while the breaker is open.

The world is test_kamailio_c4router's (Alpha's gateway first, Beta's second, fr_timer 2 s).
"""

from __future__ import annotations

import time
from pathlib import Path

import harness as h
import pytest
import test_kamailio_c4router as base
from test_kamailio_c4router import SilentHTTPServer, call, routing_answer, show, wait_for_answer

from routing.models import GatewayHealth, GatewayHealthEvent, HealthPolicy

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# The fixtures of test_kamailio_c4router's world (c4router server, data, rendered edge).
server = base.server
world = base.world
start_edge = base.start_edge

# Generous bounds: the machine is shared and slow. Detection takes about
# (down_after - 1) x interval + fr_timer (the last probe's local timeout).
DETECT_BOUND_S = 30.0
ANSWER_BOUND_S = 5.0


def saved(obj):  # type: ignore[no-untyped-def]
    obj.full_clean()
    obj.save()
    return obj


def gateway(port: int, workdir: Path, tag: str) -> h.SippUAS:
    """A SIPp carrier answering calls (uas.xml) and OPTIONS (-aa) until stopped."""
    return h.SippUAS(
        "uas.xml", workdir=workdir, port=port, calls=10_000, timeout_s=120, tag=tag,
        extra=["-aa"],
    ).start()  # fmt: skip


def pdd_ms(result: h.SippResult) -> float:
    """INVITE sent to the first ringing (or answer) received, from the caller's log."""
    sent = next(m for m in result.messages if m.direction == "sent" and m.method == "INVITE")
    rang = next(
        m for m in result.messages
        if m.direction == "received" and m.status in (180, 183, 200) and m.cseq_method == "INVITE"
    )  # fmt: skip
    return (rang.time - sent.time) * 1000  # type: ignore[operator]


def invites(carrier: h.SippUAS) -> list[h.SipMessage]:
    return [m for m in carrier.messages() if m.direction == "received" and m.method == "INVITE"]


def wait_state(gateway_id: int, state: str, timeout: float = DETECT_BOUND_S) -> GatewayHealth:
    deadline = time.monotonic() + timeout
    while True:
        row = GatewayHealth.objects.filter(gateway_id=gateway_id).first()
        if row is not None and row.state == state:
            return row
        assert time.monotonic() < deadline, f"gateway {gateway_id} not {state}: {row}"
        time.sleep(0.1)


def first_port(answer: dict) -> int:
    return int(answer["routes"][0]["uri"].rsplit(":", 1)[1].split(";")[0])


def test_a_dead_gateway_is_marked_down_skipped_then_back(world, server, start_edge, tmp_path):
    policy = saved(HealthPolicy(name="fast", probe_interval=1, down_after=2, up_after=2))
    world.alpha.health_policy = policy
    saved(world.alpha)
    alpha_id = world.alpha1.pk
    alpha = gateway(world.alpha_port, tmp_path, "alpha")
    beta = gateway(world.beta_port, tmp_path, "beta")
    try:
        edge = start_edge(world.instance)
        # The first answered probes report the gateway up (its state was unknown).
        wait_state(alpha_id, "up")
        timer_ms = routing_answer(server)["routes"][0]["fr_timer"]
        healthy = call(edge, tmp_path, tag="c1")
        assert healthy.ok, show(healthy, edge.log_tail())
        assert len(invites(alpha)) == 1

        # Alpha dies. The next call still gets Alpha first: it waits for Alpha's timer
        # (fr_timer 2 s), then goes to Beta.
        alpha.stop()
        dead_first = call(edge, tmp_path, tag="c2")
        assert dead_first.ok, show(dead_first, edge.log_tail())
        down = wait_state(alpha_id, "down")
        assert "failures in a row" in down.reason, down.reason
        # Every worker's answers skip it within the reload interval (bounded generously).
        wait_for_answer(server, lambda a: first_port(a) == world.beta_port, timeout=ANSWER_BOUND_S)
        skipped = call(edge, tmp_path, tag="c3")
        assert skipped.ok, show(skipped, edge.log_tail())

        # Alpha comes back on its port: 2 good probes, up, first again.
        alpha = gateway(world.alpha_port, tmp_path, "alpha-back")
        wait_state(alpha_id, "up")
        wait_for_answer(server, lambda a: first_port(a) == world.alpha_port, timeout=ANSWER_BOUND_S)
        back = call(edge, tmp_path, tag="c4")
        assert back.ok, show(back, edge.log_tail())
        assert len(invites(alpha)) == 1
    finally:
        alpha.stop()
        seen_beta = beta.stop()

    # Beta took exactly the two calls made while Alpha was dead.
    beta_invites = [
        m for m in seen_beta.messages if m.direction == "received" and m.method == "INVITE"
    ]
    assert len(beta_invites) == 2
    history = list(
        GatewayHealthEvent.objects.filter(gateway_id=alpha_id)
        .order_by("at")
        .values_list("state", flat=True)
    )
    assert history == ["up", "down", "up"]
    timer_pdd, skipped_pdd = pdd_ms(dead_first), pdd_ms(skipped)
    print(f"\nPDD with a dead first gateway: {timer_pdd:.0f} ms before it is marked down "
          f"(its fr_timer: {timer_ms} ms), {skipped_pdd:.0f} ms once it is")  # fmt: skip
    # Not a timing assertion: the first call did wait for the timer (it cannot be faster
    # than it), the skipped one did not wait for it.
    assert timer_pdd >= timer_ms
    assert skipped_pdd < timer_pdd


def test_a_frozen_api_url_is_skipped_once_its_breaker_opens(world, server, start_edge, tmp_path):
    with SilentHTTPServer() as frozen:
        instance = world.instance
        instance.api_urls = f"{frozen.url}\n{server.url}/kamailio/rtjson"
        instance.api_breaker_failures = 2
        instance.api_breaker_seconds = 300
        saved(instance)
        alpha = gateway(world.alpha_port, tmp_path, "alpha")
        try:
            edge = start_edge(instance)
            results = [call(edge, tmp_path, tag=f"b{i}") for i in range(4)]
        finally:
            seen_alpha = alpha.stop()
        queries = frozen.received.count(b"POST ")
    for result in results:
        assert result.ok, show(result, edge.log_tail())
    assert len([m for m in seen_alpha.messages if m.method == "INVITE"]) == 4
    # The frozen URL got the first two calls' queries, then none: the breaker was open.
    assert queries == 2, frozen.received[-2000:]
    assert "breaker open for 300 s" in edge.log_text()
    pdds = [pdd_ms(r) for r in results]
    print("\nPDD through a frozen first API URL (timeout 1000 ms): "
          + ", ".join(f"{p:.0f} ms" for p in pdds))  # fmt: skip
    assert min(pdds[:2]) >= 1000  # these waited for the API timeout
    assert max(pdds[2:]) < min(pdds[:2])
