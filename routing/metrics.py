"""Prometheus metrics: the standard client, in multiprocess mode under gunicorn.

With PROMETHEUS_MULTIPROC_DIR set (the production container and bench set it), every
worker writes its samples to that directory and /metrics sums them; without it, the
process's own registry. Hot-path counters are bound to their labels once, here, so a
routing request pays an increment and an observation, not a label lookup.
"""

from __future__ import annotations

import os
import time

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))

ROUTING_REQUESTS = Counter(
    "c4router_routing_requests",
    "Routing queries answered, by outcome.",
    ["outcome"],
)
# One child per outcome, bound once (see the module docstring).
OUTCOMES = {
    name: ROUTING_REQUESTS.labels(name)
    for name in (
        "routed", "no_route", "unknown_source", "unavailable", "address_incomplete",
        "bad_request", "forbidden_client", "not_ready",
    )
}  # fmt: skip
OUTCOME_BY_CODE = {
    200: OUTCOMES["routed"],
    403: OUTCOMES["unknown_source"],
    404: OUTCOMES["no_route"],
    480: OUTCOMES["unavailable"],
    484: OUTCOMES["address_incomplete"],
}
ROUTING_SECONDS = Histogram(
    "c4router_routing_seconds",
    "Time to answer a routing query inside c4router (parse, decide, serialise).",
    buckets=(0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25),
)
ROUTES_PER_ANSWER = Histogram(
    "c4router_routes_per_answer",
    "Routes in a successful answer.",
    buckets=(1, 2, 3, 4, 5, 6, 8, 10, 20),
)
TABLE_VERSION = Gauge(
    "c4router_table_version",
    "Routing data version of the table in use.",
    multiprocess_mode="livemax",
)
TABLE_BUILT_AT = Gauge(
    "c4router_table_built_timestamp_seconds",
    "When the table in use was built (Unix time).",
    multiprocess_mode="livemin",
)
TABLE_BUILD_SECONDS = Gauge(
    "c4router_table_build_seconds", "Time the last table build took.", multiprocess_mode="livemax"
)
TABLE_ROWS = Gauge(
    "c4router_table_rows",
    "Rows in the table in use, by kind.",
    ["kind"],
    multiprocess_mode="livemax",
)
RELOAD_FAILURES = Counter(
    "c4router_table_reload_failures", "Failed checks or rebuilds of the routing table."
)
DATABASE_ERRORS = Counter(
    "c4router_database_errors", "Database errors seen while reading routing data."
)


def record_table(version: int, build_seconds: float, counts: dict[str, int]) -> None:
    TABLE_VERSION.set(version)
    TABLE_BUILT_AT.set(time.time())
    TABLE_BUILD_SECONDS.set(build_seconds)
    for kind, count in counts.items():
        TABLE_ROWS.labels(kind).set(count)


def exposition() -> tuple[bytes, str]:
    """The metrics page body and its content type."""
    if MULTIPROCESS:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
