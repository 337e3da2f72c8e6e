"""The capacity counters (kamailio_cfg/capacity.lua) run by the real Redis, as Kamailio
runs them (EVALSHA with the rendered script), and what /metrics reads back from them.

Redis database 15, emptied before and after each test: the e2e suite and a running edge
use database 0.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis
from django.conf import settings

from routing import capacity
from routing.engine.table import CarrierRow, GatewayRow, TenantRow, build_table
from routing.kamailio_render import capacity_script
from tests.engine.builders import base_rows

DB = 15


@pytest.fixture
def store() -> Iterator[redis.Redis]:
    config = settings.C4ROUTER_CAPACITY
    client = redis.Redis(host=config["REDIS_HOST"], port=config["REDIS_PORT"], db=DB)
    try:
        client.flushdb()
    except redis.RedisError as exc:
        pytest.fail(f"Redis at C4ROUTER_CAPACITY_REDIS_HOST/PORT is not reachable: {exc!r}")
    yield client
    client.flushdb()


def runner(store: redis.Redis, ttl: int = 3600):  # type: ignore[no-untyped-def]
    script = store.register_script(capacity_script(ttl))

    def run(op: str, call: str, spec: str) -> str:
        return script(args=[op, call, spec]).decode()

    return run


def test_places_are_taken_up_to_the_limit_and_given_back(store):
    run = runner(store)
    assert run("take", "call-1", "t1:2:-") == "ok"
    assert run("take", "call-2", "t1:2:-") == "ok"
    assert run("take", "call-3", "t1:2:-") == "t1:calls"
    run("free", "call-1", "t1:2:-")
    assert run("take", "call-3", "t1:2:-") == "ok"
    assert store.hgetall("c4:refused") == {b"t1:calls": b"1"}


def test_one_full_limit_takes_nothing_from_the_others(store):
    run = runner(store)
    assert run("take", "call-1", "p1:1:-") == "ok"
    assert run("take", "call-2", "t1:5:- p1:1:-") == "p1:calls"
    assert store.zcard("c4:calls:t1") == 0  # the tenant's place was not taken
    assert run("take", "call-2", "t1:5:-") == "ok"


def test_a_call_that_holds_a_place_keeps_it_on_its_next_attempt(store):
    # alpha-1 failed over to alpha-2: the carrier's place is the call's, not a second one.
    run = runner(store)
    assert run("take", "call-1", "c1:1:- g1:1:-") == "ok"
    assert run("take", "call-1", "c1:1:- g2:1:-") == "ok"
    assert store.zcard("c4:calls:c1") == 1


def test_a_place_not_given_back_expires(store):
    # A lost BYE, a restarted Kamailio: the place is free again after the TTL.
    run = runner(store, ttl=1)
    assert run("take", "lost", "c1:1:-") == "ok"
    assert run("take", "next", "c1:1:-") == "c1:calls"
    time.sleep(2.1)
    assert run("take", "next", "c1:1:-") == "ok"


def test_calls_per_second_are_counted_in_each_second(store):
    run = runner(store)
    for _ in range(5):  # the three takes must fall in one second of Redis's clock
        store.flushdb()
        before = store.time()[0]
        answers = [run("take", f"call-{n}", "g1:-:2") for n in range(3)]
        if store.time()[0] == before:
            break
    assert answers == ["ok", "ok", "g1:cps"]
    # No concurrent limit: nothing held, nothing to give back.
    assert store.zcard("c4:calls:g1") == 0


def test_metrics_show_calls_in_progress_and_refusals_per_limit(store):
    rows = base_rows(
        tenants=(TenantRow(1, "Acme", max_calls=2), TenantRow(2, "Globex")),
        carriers=(CarrierRow(1, "Alpha", max_cps=30), CarrierRow(2, "Beta")),
        gateways=(GatewayRow(1, 1, "alpha-1", "203.0.113.10", max_calls=5),),
    )
    table = build_table(rows)
    run = runner(store)
    run("take", "call-1", "t1:2:-")
    run("take", "call-2", "t1:2:-")
    run("take", "call-3", "t1:2:-")
    text = capacity.compute(table, store).decode()
    assert 'c4router_capacity_calls_in_progress{id="1",kind="tenant",name="Acme"} 2.0' in text
    assert 'c4router_capacity_max_calls{id="1",kind="tenant",name="Acme"} 2.0' in text
    assert (
        'c4router_capacity_refused_total{full="calls",id="1",kind="tenant",name="Acme"} 1.0' in text
    )
    assert 'c4router_capacity_max_cps{id="1",kind="carrier",name="Alpha"} 30.0' in text
    assert 'c4router_capacity_calls_in_progress{id="1",kind="gateway",name="alpha-1"} 0.0' in text
    assert "Globex" not in text  # no limit, no figures
