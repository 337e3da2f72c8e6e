"""Capacity limits as Kamailio counts them: the counters in Redis, for /metrics and the
admin's Traffic pages (routing/admin_traffic.py: the limits' rows from the database, their
counters from here).

Kamailio keeps them (kamailio_cfg/capacity.lua, README "Capacity limits"): per limit key
("t12": tenant 12; "p", "c", "g", "s": PBX, carrier, gateway, IP source), the sorted set
c4:calls:<key> of the calls holding a place (scored with the time the place expires), and the hash
c4:refused of the calls refused, per "<key>:calls" and "<key>:cps". This module only reads
them.

/metrics is answered on the event loop and must never wait for Redis: exposition() returns
the figures of the last refresh and, when they are older than REFRESH_SECONDS, starts a
refresh in a thread of its own (as routing.cdr.metrics does for the database). Redis down:
the figures are left out, /metrics still answers.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence

from django.conf import settings
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from routing.engine.table import Table

logger = logging.getLogger("c4router.capacity")

REFRESH_SECONDS = 2.0
TIMEOUT_SECONDS = 1.0


def client():  # type: ignore[no-untyped-def]
    import redis

    capacity = settings.C4ROUTER_CAPACITY
    return redis.Redis(
        host=capacity["REDIS_HOST"],
        port=capacity["REDIS_PORT"],
        db=capacity["REDIS_DB"],
        socket_timeout=TIMEOUT_SECONDS,
        socket_connect_timeout=TIMEOUT_SECONDS,
    )


def _owner(table: Table, key: str) -> tuple[str, str, str]:
    kind, name = table.limit_owners.get(key, ("", key))
    return kind, key[1:], name


def counters(keys: Sequence[str], redis_client=None) -> dict[str, dict[str, int]]:  # type: ignore[no-untyped-def]
    """Per limit key ("t12"...): the calls holding a place now (places not yet expired) and
    the refusals counted so far, as Kamailio's script keeps them. One pipeline and one HGETALL
    whatever the number of keys."""
    redis_client = redis_client or client()
    now = int(redis_client.time()[0])
    pipe = redis_client.pipeline(transaction=False)
    for key in keys:
        pipe.zcount(f"c4:calls:{key}", now + 1, "+inf")
    in_progress = pipe.execute()
    refused = {
        name.decode(): int(count) for name, count in redis_client.hgetall("c4:refused").items()
    }
    return {
        key: {
            "in_progress": int(calls),
            "refused_calls": refused.get(f"{key}:calls", 0),
            "refused_cps": refused.get(f"{key}:cps", 0),
        }
        for key, calls in zip(keys, in_progress, strict=True)
    }


def read(table: Table, redis_client=None) -> dict[str, dict[str, int]]:  # type: ignore[no-untyped-def]
    """Per limit key of the table: its limits, the calls in progress, the refusals."""
    keys = sorted(table.limits)
    out = counters(keys, redis_client)
    for key in keys:
        _, max_calls, max_cps = table.limits[key].split(":")
        out[key]["max_calls"] = -1 if max_calls == "-" else int(max_calls)
        out[key]["max_cps"] = -1 if max_cps == "-" else int(max_cps)
    return out


class _Snapshot(Collector):
    def __init__(self, families: list) -> None:  # type: ignore[type-arg]
        self.families = families

    def collect(self):  # type: ignore[no-untyped-def]
        return iter(self.families)


def compute(table: Table, redis_client=None) -> bytes:  # type: ignore[no-untyped-def]
    labels = ["kind", "id", "name"]
    in_progress = GaugeMetricFamily(
        "c4router_capacity_calls_in_progress",
        "Calls holding a place in a limit now (all Kamailio nodes), per limit.",
        labels=labels,
    )
    limit_calls = GaugeMetricFamily(
        "c4router_capacity_max_calls", "The limit's concurrent calls.", labels=labels
    )
    limit_cps = GaugeMetricFamily(
        "c4router_capacity_max_cps", "The limit's calls per second.", labels=labels
    )
    refused = CounterMetricFamily(
        "c4router_capacity_refused",
        "Calls or routes refused by a limit (all nodes), per limit and what was full.",
        labels=[*labels, "full"],
    )
    for key, figures in read(table, redis_client).items():
        owner = list(_owner(table, key))
        in_progress.add_metric(owner, figures["in_progress"])
        if figures["max_calls"] >= 0:
            limit_calls.add_metric(owner, figures["max_calls"])
        if figures["max_cps"] >= 0:
            limit_cps.add_metric(owner, figures["max_cps"])
        refused.add_metric([*owner, "calls"], figures["refused_calls"])
        refused.add_metric([*owner, "cps"], figures["refused_cps"])
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot([in_progress, limit_calls, limit_cps, refused]))
    return generate_latest(registry)


class _Cache:
    text = b""
    refreshed = float("-inf")
    running = False
    lock = threading.Lock()


def refresh() -> None:
    """Read the counters again (in the calling thread) and keep them for exposition()."""
    import redis

    from routing.loader import holder

    try:
        table = holder.get()
        _Cache.text = compute(table) if table is not None and table.limits else b""
    except redis.RedisError as exc:
        logger.debug("capacity metrics not refreshed: %s", exc)
        _Cache.text = b""
    finally:
        _Cache.refreshed = time.monotonic()
        _Cache.running = False


def exposition() -> bytes:
    """The figures of the last refresh (b"" when the limits are off); a refresh started in
    the background if stale."""
    if not settings.C4ROUTER_CAPACITY["ENABLED"]:
        return b""
    if time.monotonic() - _Cache.refreshed >= REFRESH_SECONDS:
        with _Cache.lock:
            if not _Cache.running:
                _Cache.running = True
                threading.Thread(target=refresh, name="capacity-metrics", daemon=True).start()
    return _Cache.text
