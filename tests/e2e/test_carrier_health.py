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
import test_call_records
import test_kamailio_c4router as base
from test_kamailio_c4router import SilentHTTPServer, call, routing_answer, show, wait_for_answer

from routing.models import GatewayHealth, GatewayHealthEvent, HealthPolicy

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# The fixtures of test_kamailio_c4router's world (c4router server, data, rendered edge).
server = base.server
world = base.world
start_edge = base.start_edge
cdr_queue = test_call_records.cdr_queue

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
        died_at = time.time()
        alpha.stop()
        dead_first = call(edge, tmp_path, tag="c2")
        assert dead_first.ok, show(dead_first, edge.log_tail())
        down = wait_state(alpha_id, "down")
        assert "failures in a row" in down.reason, down.reason
        detect_ms = (down.since.timestamp() - died_at) * 1000
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
    print(f"Detection: marked down {detect_ms:.0f} ms after its SIPp stopped (probe every "
          f"1 s, down after 2 failures, a probe's timeout the instance's fr_timer "
          f"{world.instance.fr_timer} ms)")  # fmt: skip
    # Not a timing assertion: the first call did wait for the timer (it cannot be faster
    # than it, but for Kamailio's timer tick of 1/16 s), the skipped one did not wait for it.
    assert timer_pdd >= timer_ms - 1000 / 16
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


# --- passive demotion: through the call records ------------------------------------------------


@pytest.fixture
def recorded_world(server, cdr_queue):  # type: ignore[no-untyped-def]
    """The world with call records on, into a queue of the test's own (test_call_records')."""
    data = base.make_world(f"{server.url}/kamailio/rtjson")
    server.start()
    return data, cdr_queue


def test_a_gateway_failing_half_its_calls_is_demoted_and_no_call_is_lost(
    recorded_world, start_edge, tmp_path
):
    import threading

    from django.db import connection

    from routing.cdr import ingest

    world, queue = recorded_world
    policy = saved(
        HealthPolicy(name="demote", probing=False, demote=True, demote_window=600,
                     demote_min_attempts=10, demote_start=20, demote_end=80)
    )  # fmt: skip
    world.alpha.health_policy = policy
    saved(world.alpha)
    edge = start_edge(world.instance)
    ingester = ingest.Ingester(queue=queue, batch=100, max_wait=0.2, log=lambda line: None)

    def consume() -> None:
        try:
            ingester.run(max_seconds=240)
        finally:
            connection.close()  # this thread's own

    worker = threading.Thread(target=consume, daemon=True)
    worker.start()
    alpha = h.SippUAS("uas_half_503.xml", workdir=tmp_path, port=world.alpha_port, calls=1000,
                      timeout_s=200, tag="alpha").start()  # fmt: skip
    beta = h.SippUAS("uas.xml", workdir=tmp_path, port=world.beta_port, calls=1000,
                     timeout_s=200, tag="beta").start()  # fmt: skip
    try:
        # 1. Twenty calls: Alpha first for each (nothing counted yet), half refused by it and
        #    completed through Beta.
        first = h.run_sipp("uac.xml", edge.port, workdir=tmp_path, service=base.FRANCE,
                           calls=20, timeout_s=120, recv_timeout_ms=10000, tag="first",
                           extra=["-r", "5"])  # fmt: skip
        assert first.ok, show(first, edge.log_tail())
        seen = alpha.messages()
        tried = len([m for m in seen if m.method == "INVITE"])
        refused = sum(1 for m in seen if m.direction == "sent" and m.status == 503)
        # 2. The records reach the ingester, which counts them (every second). Alpha may
        #    have been demoted during the twenty already (from its 10th attempt).
        health = wait_counted(world.alpha1.pk, tried)
        share = refused / tried
        expected = min(max((share * 100 - 20) / 60, 0.0), 1.0)
        assert health.window_failures == refused
        # Stored when it moved by 5 points or more: within 5 points of the exact ramp.
        assert abs(health.skip_probability - expected) < 0.05 + 1e-9, (health, refused, tried)
        p_start = health.skip_probability
        # 3. Forty more calls: Alpha is left out with that probability; none is lost.
        before = len([m for m in alpha.messages() if m.method == "INVITE"])
        second = h.run_sipp("uac.xml", edge.port, workdir=tmp_path, service=base.FRANCE,
                            calls=40, timeout_s=120, recv_timeout_ms=10000, tag="second",
                            extra=["-r", "5"])  # fmt: skip
        assert second.ok, show(second, edge.log_tail())
        to_alpha = len([m for m in alpha.messages() if m.method == "INVITE"]) - before
    finally:
        alpha.stop()
        beta.stop()
        ingester.stop()
        worker.join(timeout=30)
    # Binomial: Alpha tried with probability 1 - p, p moving between its value when the
    # second batch began and its value at the end (recounted every second); 4 standard
    # deviations either way of the widest range.
    p_end = GatewayHealth.objects.get(gateway_id=world.alpha1.pk).skip_probability
    low, high = min(p_start, p_end), max(p_start, p_end)
    sd = 40**0.5 / 2  # the largest binomial deviation (p = 0.5)
    assert 40 * (1 - high) - 4 * sd <= to_alpha <= 40 * (1 - low) + 4 * sd, (to_alpha, low, high)
    assert to_alpha < 40 or high == 0.0  # demoted: some calls did skip Alpha
    print(f"\nDemotion: Alpha refused {refused} of the {tried} calls it got ({share:.0%}), "
          f"skip probability {p_start:.0%}; then Alpha got {to_alpha} of 40 calls "
          f"(probability {p_end:.0%} at the end); every call completed")  # fmt: skip


def wait_counted(gateway_id: int, attempts: int, timeout: float = 60.0) -> GatewayHealth:
    """The demotion count has seen the gateway's attempts (the records' path: RabbitMQ,
    the ingester's batch, its recount every second)."""
    deadline = time.monotonic() + timeout
    while True:
        row = GatewayHealth.objects.filter(gateway_id=gateway_id).first()
        if row is not None and row.window_attempts == attempts:
            return row
        assert time.monotonic() < deadline, f"not counted yet: {row and row.window_attempts}"
        time.sleep(0.2)
