"""Capacity limits on the wire: the real c4router says which limits each call and route
count against, real Kamailios (config rendered with C4ROUTER_CAPACITY_ENABLED) count them
in the real Redis, SIPp callers offer more than the limits and SIPp carriers see what got
through.

The routing data is test_kamailio_c4router's (Acme's PBX "hq" calls from 127.0.0.1, the
France rule sends calls to Alpha's alpha-1, then Beta's beta-1), plus the limits each test
sets. What is measured is what the carriers receive (their SIPp message logs): calls per
second by the second of the INVITE's arrival, calls in progress from each INVITE to its
BYE.

The load tests run 20 s each (the issue asks 60 s; 20 s of 30 calls/s already gives 20
one-second samples): `C4ROUTER_CAPACITY_E2E_SECONDS=60` runs them at full length.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Iterator

import harness as h
import pytest
import redis
from django.conf import settings
from test_kamailio_c4router import (  # the same world and helpers
    FRANCE,
    World,
    make_world,
    server,  # noqa: F401 - a fixture
    start_edge,  # noqa: F401 - a fixture
)

from routing.models import RouterInstance

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SECONDS = int(os.environ.get("C4ROUTER_CAPACITY_E2E_SECONDS", "20"))


def flush_counters() -> None:
    capacity = settings.C4ROUTER_CAPACITY
    client = redis.Redis(
        host=capacity["REDIS_HOST"], port=capacity["REDIS_PORT"], db=capacity["REDIS_DB"]
    )
    keys = list(client.scan_iter("c4:*"))
    if keys:
        client.delete(*keys)


@pytest.fixture
def capacity(settings) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """Limits on, counted in the Redis of the settings (emptied of c4router's counters:
    the ids of a test's rows come back in the next one)."""
    settings.C4ROUTER_CAPACITY = {**settings.C4ROUTER_CAPACITY, "ENABLED": True}
    try:
        flush_counters()
    except redis.RedisError as exc:
        pytest.fail(f"Redis at C4ROUTER_CAPACITY_REDIS_HOST/PORT is not reachable: {exc!r}")
    yield
    flush_counters()


def world_with(server, **limits) -> World:  # noqa: F811 - the fixture
    """make_world, then the limits ({"pbx": {"max_cps": 10}, ...}), then c4router."""
    data = make_world(f"{server.url}/kamailio/rtjson")
    for name, values in limits.items():
        row = getattr(data, name)
        for field, value in values.items():
            setattr(row, field, value)
        row.full_clean()
        row.save()
    server.start()
    return data


def carrier(port: int, workdir, tag: str, calls: int) -> h.SippUAS:
    return h.SippUAS(
        "uas.xml", workdir=workdir, port=port, calls=calls, timeout_s=SECONDS + 90, tag=tag
    )


def offer(
    edge: h.KamailioProcess, workdir, *, rate: float, calls: int, call_ms: int, tag: str = "uac"
) -> h.SippResult:
    """`calls` calls at `rate` per second, each `call_ms` long once answered."""
    return h.run_sipp(
        "uac_load.xml", edge.port, workdir=workdir, service=FRANCE, calls=calls,
        remote_host=edge.host,
        timeout_s=calls / rate + call_ms / 1000 + 60, recv_timeout_ms=20000,
        duration_ms=call_ms, extra=["-r", str(rate), "-l", str(10 * calls)], tag=tag,
    )  # fmt: skip


def outcomes(result: h.SippResult) -> Counter[int | None]:
    """Final answer of each call the caller made: 200 or 503."""
    finals: dict[str, int | None] = {}
    for message in result.received():
        if message.status and message.status >= 200 and message.cseq_method == "INVITE":
            finals.setdefault(message.header("Call-ID") or "", message.status)
    return Counter(finals.values())


def invites_per_second(messages: list[h.SipMessage]) -> Counter[int]:
    times = [m.time for m in h.received(messages, "INVITE") if m.time is not None]
    return Counter(int(t) for t in times)


def in_flight(messages: list[h.SipMessage]) -> list[tuple[float, int]]:
    """Calls in progress at the carrier after each INVITE or BYE it received, in order."""
    events = []
    for m in h.received(messages):
        if m.method in ("INVITE", "BYE") and m.time is not None:
            events.append((m.time, 1 if m.method == "INVITE" else -1))
    events.sort()
    count, out = 0, []
    for at, step in events:
        count += step
        out.append((at, count))
    return out


def load_alpha(
    c4router, edge_starter, workdir, limits: dict, *, rate: float, calls: int, call_ms: int
) -> tuple[Counter[int | None], h.SippResult, h.SippResult]:
    """The world with `limits`, an edge, `calls` calls at `rate` to Alpha: the callers'
    outcomes (each call answered: 200 through Alpha, or 503 from the edge at once), the
    caller's run and what Alpha received."""
    world = world_with(c4router, **limits)
    edge = edge_starter(world.instance)
    with carrier(world.alpha_port, workdir, "alpha", calls) as alpha:
        result = offer(edge, workdir, rate=rate, calls=calls, call_ms=call_ms)
        seen = alpha.stop()
    got = outcomes(result)
    assert set(got) == {200, 503}, (got, result.describe())
    return got, result, seen


def retry_after(result: h.SippResult) -> set[str | None]:
    return {m.header("Retry-After") for m in result.received() if m.status == 503}


# ------------------------------------------------------------------ calls per second


def test_a_cps_limit_of_10_lets_10_calls_a_second_through_out_of_30(
    server,  # noqa: F811 - the fixture
    capacity,
    start_edge,  # noqa: F811 - the fixture
    tmp_path,
):
    calls = 30 * SECONDS
    got, result, seen = load_alpha(
        server, start_edge, tmp_path, {"pbx": {"max_cps": 10}}, rate=30, calls=calls, call_ms=200
    )
    assert sum(got.values()) == calls, (got, result.describe())
    assert retry_after(result) == {"5"}
    per_second = invites_per_second(seen.received())
    # The first and last seconds are partial (the caller starts and stops inside them).
    full = [per_second[s] for s in sorted(per_second)[1:-1]]
    assert len(full) >= SECONDS - 3, per_second
    assert all(9 <= n <= 11 for n in full), sorted(per_second.items())
    assert got[200] == sum(per_second.values())


# ------------------------------------------------------------------ concurrent calls


def test_a_limit_of_20_calls_never_has_more_than_20_in_progress(
    server,  # noqa: F811 - the fixture
    capacity,
    start_edge,  # noqa: F811 - the fixture
    tmp_path,
):
    # 8 s calls at 5 a second: 40 would be in progress, twice the limit.
    got, _, seen = load_alpha(
        server, start_edge, tmp_path, {"pbx": {"max_calls": 20}}, rate=5, calls=5 * SECONDS,
        call_ms=8000,
    )  # fmt: skip
    flight = in_flight(seen.received())
    peak = max(count for _, count in flight)
    assert peak == 20, flight  # full, never over
    # Sampled each second as well (the state between events): never over 20.
    start, end = flight[0][0], flight[-1][0]
    samples = []
    second = int(start) + 1
    index = 0
    current = 0
    while second <= end:
        while index < len(flight) and flight[index][0] <= second:
            current = flight[index][1]
            index += 1
        samples.append(current)
        second += 1
    assert max(samples) <= 20 and samples.count(20) >= 3, samples
    # Every answered call was released: a call that ended made room for the next one.
    assert flight[-1][1] == 0, flight[-5:]
    assert got[200] > 20


# ------------------------------------------------------------------ egress overflow


def test_a_carrier_over_its_limit_is_skipped_for_the_next_one(
    server,  # noqa: F811 - the fixture
    capacity,
    start_edge,  # noqa: F811 - the fixture
    tmp_path,
):
    # Alpha takes 3 calls at once; 6 long calls: 3 to Alpha, the next 3 to Beta.
    world = world_with(server, alpha={"max_calls": 3})
    edge = start_edge(world.instance)
    with (
        carrier(world.alpha_port, tmp_path, "alpha", 6) as alpha,
        carrier(world.beta_port, tmp_path, "beta", 6) as beta,
    ):
        result = offer(edge, tmp_path, rate=3, calls=6, call_ms=5000)
        seen_alpha, seen_beta = alpha.stop(), beta.stop()
    assert outcomes(result) == Counter({200: 6}), result.describe()
    assert len(h.received(seen_alpha.received(), "INVITE")) == 3
    assert len(h.received(seen_beta.received(), "INVITE")) == 3
    # No 503 was sent to Alpha's side: the skipped route never left the edge.
    assert h.received(seen_alpha.received(), "CANCEL") == []


def test_a_failed_attempt_gives_its_place_back(
    server,  # noqa: F811 - the fixture
    capacity,
    start_edge,  # noqa: F811 - the fixture
    tmp_path,
):
    # Alpha takes 1 call at once and refuses every call (503): each call fails over to Beta
    # while Beta's call goes on. Were Alpha's place still held by the first call, the second
    # would skip Alpha.
    world = world_with(server, alpha={"max_calls": 1})
    edge = start_edge(world.instance)
    with (
        h.SippUAS(
            "uas_503.xml", workdir=tmp_path, port=world.alpha_port, calls=2, tag="alpha"
        ) as alpha,
        carrier(world.beta_port, tmp_path, "beta", 2) as beta,
    ):
        result = offer(edge, tmp_path, rate=2, calls=2, call_ms=4000)
        seen_alpha, seen_beta = alpha.stop(), beta.stop()
    assert outcomes(result) == Counter({200: 2}), result.describe()
    assert len(h.received(seen_alpha.received(), "INVITE")) == 2
    assert len(h.received(seen_beta.received(), "INVITE")) == 2


def test_no_route_left_under_its_limits_is_refused_with_the_ingress_code(
    server,  # noqa: F811 - the fixture
    capacity,
    start_edge,  # noqa: F811 - the fixture
    tmp_path,
):
    world = world_with(server, alpha={"max_calls": 0}, beta1={"max_cps": 0})
    edge = start_edge(world.instance)
    with (
        carrier(world.alpha_port, tmp_path, "alpha", 1) as alpha,
        carrier(world.beta_port, tmp_path, "beta", 1) as beta,
    ):
        result = h.run_sipp(
            "uac_expect_fail.xml", edge.port, workdir=tmp_path, service=FRANCE, timeout_s=20
        )
        seen_alpha, seen_beta = alpha.stop(), beta.stop()
    assert result.final_status() == 503, result.describe()
    (refusal,) = [m for m in result.received() if m.status == 503]
    assert (refusal.reason, refusal.header("Retry-After")) == ("Capacity Exceeded", "5")
    assert h.received(seen_alpha.received(), "INVITE") == []
    assert h.received(seen_beta.received(), "INVITE") == []


def test_the_operators_reason_reaches_the_caller_as_typed(
    server,  # noqa: F811 - the fixture
    capacity,
    settings,
    start_edge,  # noqa: F811 - the fixture
    tmp_path,
):
    # A reason the shared reason-phrase grammar accepts, with what a Kamailio string would
    # misread: a quote, a backslash, a pseudo-variable's "$".
    reason = 'Full "now" $ci \\ x'
    settings.C4ROUTER_CAPACITY = {**settings.C4ROUTER_CAPACITY, "REASON": reason}
    world = world_with(server, pbx={"max_calls": 0})
    edge = start_edge(world.instance)
    with carrier(world.alpha_port, tmp_path, "alpha", 1) as alpha:
        result = h.run_sipp(
            "uac_expect_fail.xml", edge.port, workdir=tmp_path, service=FRANCE, timeout_s=20
        )
        seen = alpha.stop()
    (refusal,) = [m for m in result.received() if m.status == 503]
    assert refusal.reason == reason, result.describe()
    assert h.received(seen.received(), "INVITE") == []


# ------------------------------------------------------------------ two nodes, one limit


def test_two_edges_share_one_limit(
    server,  # noqa: F811 - the fixture
    capacity,
    start_edge,  # noqa: F811 - the fixture
    tmp_path,
):
    # Each edge is offered 20 long calls for a limit of 10 in all: the sum holds.
    world = world_with(server, pbx={"max_calls": 10})
    first = world.instance
    second = RouterInstance.objects.get(pk=first.pk)
    second.pk = None
    second.name, second.listen_port = "edge2", h.free_port()
    second.listen_ip = "127.0.0.2"
    second.token = "e2e-edge2-token-0123456789abcdef"
    second.full_clean()
    second.save()
    edges = [start_edge(first), start_edge(second)]
    results: dict[int, h.SippResult] = {}
    with carrier(world.alpha_port, tmp_path, "alpha", 40) as alpha:

        def run(index: int) -> None:
            results[index] = offer(
                edges[index], tmp_path / f"caller{index}", rate=4, calls=20, call_ms=6000,
                tag=f"uac{index}",
            )  # fmt: skip

        threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seen = alpha.stop()
    answered = [outcomes(results[i])[200] for i in range(2)]
    assert all(n > 0 for n in answered), answered  # both edges got calls through
    flight = in_flight(seen.received())
    assert max(count for _, count in flight) == 10, flight
