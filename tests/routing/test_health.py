"""/healthz, /readyz and /metrics, through the lean ASGI handler and through Django."""

from __future__ import annotations

import asyncio
import json
import logging
import time

import httpx
import pytest

from c4router.logformat import JsonFormatter
from routing.loader import holder

from .conftest import TOKEN
from .test_endpoint import outbound, post


def asgi_get(path: str, client_ip: str = "127.0.0.1") -> httpx.Response:
    from c4router.asgi import application

    async def run() -> httpx.Response:
        transport = httpx.ASGITransport(app=application, client=(client_ip, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://lb.internal") as http:
            return await http.get(path)

    return asyncio.run(run())


@pytest.fixture
def status(monkeypatch):  # type: ignore[no-untyped-def]
    """The holder's status, restored after the test."""
    saved = holder.status
    monkeypatch.setattr(holder, "status", type(saved)())
    return holder.status


def test_healthz_is_open_and_cheap(client, db, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert client.get("/healthz").json() == {"status": "alive"}
    response = asgi_get("/healthz", client_ip="203.0.113.50")  # any client, any Host
    assert response.status_code == 200 and response.json() == {"status": "alive"}


def test_readyz_ok_with_a_fresh_table(client, live_table, status, django_assert_num_queries):
    status.last_check_ok_at = time.time()
    with django_assert_num_queries(0):
        document = client.get("/readyz").json()
    assert document["status"] == "ok" and document["database"] == "reachable"
    assert document["table"]["version"] == live_table.version
    assert document["table"]["rows"]["rules"] == 1
    assert asgi_get("/readyz").json()["status"] == "ok"


def test_readyz_degraded_while_the_database_is_unreachable(client, live_table, status):
    status.last_check_ok_at = time.time() - 30
    status.consecutive_failures = 12
    status.last_error = "connection refused"
    response = client.get("/readyz")
    assert response.status_code == 200  # still routing from the last table
    document = response.json()
    assert document["status"] == "degraded" and document["database"] == "unreachable"
    assert document["database_error"] == "connection refused"
    assert document["table"]["checked_seconds_ago"] >= 30


def test_readyz_unavailable_when_too_stale_or_without_table(client, live_table, status, settings):
    settings.C4ROUTER = {**settings.C4ROUTER, "READY_MAX_STALE_SECONDS": 60}
    status.last_check_ok_at = time.time() - 120
    status.consecutive_failures = 400
    assert client.get("/readyz").status_code == 503
    holder.table = None
    response = client.get("/readyz")
    assert response.status_code == 503 and response.json()["reason"] == "no routing table yet"


def _sample(text: str, name: str) -> float:
    """The value of one sample (name with its labels) in a Prometheus text page; 0 if absent."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_count_outcomes_and_latency(client, live_table):
    before = client.get("/metrics").content.decode()
    post(client, outbound())
    post(client, outbound(to_uri="sip:+4420@x"))
    post(client, b"{bad")
    post(client, outbound(), token="")
    after = client.get("/metrics").content.decode()
    for outcome in ("routed", "no_route", "bad_request", "forbidden_client"):
        name = f'c4router_routing_requests_total{{outcome="{outcome}"}}'
        assert _sample(after, name) == _sample(before, name) + 1, outcome
    assert (
        _sample(after, "c4router_routing_seconds_count")
        == _sample(before, "c4router_routing_seconds_count") + 2
    )
    assert "c4router_routes_per_answer_bucket" in after
    assert f"c4router_table_version {float(live_table.version)}" in after
    assert 'c4router_table_rows{kind="rules"} 1.0' in after
    assert TOKEN not in after


def test_metrics_only_for_allowed_networks(client, db):
    assert asgi_get("/metrics", client_ip="203.0.113.50").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.50").status_code == 403
    assert asgi_get("/metrics").status_code == 200


def test_json_logs_carry_the_call_id():
    record = logging.LogRecord(
        "c4router.routing", logging.INFO, __file__, 1, "call-id=%s refused", ("abc@x",), None
    )
    record.call_id = "abc@x"
    document = json.loads(JsonFormatter().format(record))
    assert document["call_id"] == "abc@x"
    assert document["message"] == "call-id=abc@x refused"
    assert document["level"] == "INFO"


def test_decisions_are_logged_at_debug_with_their_call_id(client, live_table, caplog):
    with caplog.at_level(logging.INFO, logger="c4router.routing"):
        post(client, outbound(to_uri="sip:+4420@x", call_id="quiet@test"))
    assert not [r for r in caplog.records if r.name == "c4router.routing"]  # not per call
    with caplog.at_level(logging.DEBUG, logger="c4router.routing"):
        post(client, outbound(to_uri="sip:+4420@x", call_id="missing-route@test"))
        post(client, outbound(call_id="routed@test"))
    refused, routed = [r for r in caplog.records if r.name == "c4router.routing"]
    assert refused.call_id == "missing-route@test"
    assert "refused 404 No Route" in refused.getMessage()
    assert routed.call_id == "routed@test" and "routed" in routed.getMessage()


def test_malformed_queries_are_reported_at_most_once_a_second(client, live_table, caplog):
    from routing.endpoint import _BadQueryLog

    _BadQueryLog.last, _BadQueryLog.suppressed = float("-inf"), 0
    with caplog.at_level(logging.WARNING, logger="c4router.routing"):
        for _ in range(50):
            post(client, b"{bad")
        _BadQueryLog.last -= _BadQueryLog.interval  # a second later
        post(client, b"[]")
    lines = [r.getMessage() for r in caplog.records if r.name == "c4router.routing"]
    assert len(lines) == 2
    assert "body: not valid JSON" in lines[0]
    assert "body: expected a JSON object (and 49 more since the last report)" in lines[1]


def _histogram_samples(registry, name: str) -> dict[str, float]:  # type: ignore[no-untyped-def]
    return {
        f"{sample.name}{sorted(sample.labels.items())}": sample.value
        for family in registry.collect()
        if family.name == name
        for sample in family.samples
        if not sample.name.endswith("_created")
    }


def test_the_routing_tally_adds_what_observe_would():
    """The routing path counts into metrics.TALLY (plain ints) and flush() adds the counts
    to the Prometheus histograms in bulk, through prometheus_client's internals: the result
    must be what observe() would have given, bucket by bucket."""
    from prometheus_client import REGISTRY, CollectorRegistry, Histogram

    from routing import metrics

    reference = CollectorRegistry()
    seconds = Histogram("ref_seconds", "", buckets=metrics.SECONDS_BUCKETS, registry=reference)
    routes = Histogram("ref_routes", "", buckets=metrics.ROUTES_BUCKETS, registry=reference)
    metrics.TALLY.flush()
    before = {
        "seconds": _histogram_samples(REGISTRY, "c4router_routing_seconds"),
        "routes": _histogram_samples(REGISTRY, "c4router_routes_per_answer"),
        "routed": REGISTRY.get_sample_value(
            "c4router_routing_requests_total", {"outcome": "routed"}
        ),
    }
    # Durations in the middle of their buckets (the tally measures them itself, from
    # `started`: a few microseconds more), and one past the last bucket.
    for duration, count in ((0.00003, 1), (0.003, 3), (0.03, 7), (1.0, 25)):
        metrics.TALLY.answered(200, count, time.perf_counter() - duration)
        seconds.observe(duration)
        routes.observe(count)
    metrics.TALLY.answered(404, 0, time.perf_counter())  # timed, no routes
    seconds.observe(0.0)
    metrics.TALLY.flush()

    def added(kind: str, name: str, ref_name: str) -> dict[str, float]:
        after = _histogram_samples(REGISTRY, name)
        return {
            key.replace(name, ref_name): value - before[kind].get(key, 0.0)
            for key, value in after.items()
        }

    got_seconds = added("seconds", "c4router_routing_seconds", "ref_seconds")
    want_seconds = _histogram_samples(reference, "ref_seconds")
    sum_key = "ref_seconds_sum[]"
    assert got_seconds.pop(sum_key) == pytest.approx(want_seconds.pop(sum_key), abs=0.01)
    assert got_seconds == want_seconds
    assert want_seconds["ref_seconds_count[]"] == 5
    assert added("routes", "c4router_routes_per_answer", "ref_routes") == (
        _histogram_samples(reference, "ref_routes")
    )
    assert (
        REGISTRY.get_sample_value("c4router_routing_requests_total", {"outcome": "routed"})
        == (before["routed"] or 0) + 4
    )
