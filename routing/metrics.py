"""Prometheus metrics: the standard client, in multiprocess mode under gunicorn.

With PROMETHEUS_MULTIPROC_DIR set (the production container and bench set it), every
worker writes its samples to that directory and /metrics sums them; without it, the
process's own registry. The routing path does not touch them: it counts into TALLY, plain
numbers that flush() adds to them (see RoutingTally).
"""

from __future__ import annotations

import bisect
import os
import threading
import time
from typing import TYPE_CHECKING

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

if TYPE_CHECKING:
    from routing.engine.table import Table

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
        "listed", "bad_request", "forbidden_client", "not_ready", "overloaded",
        "rejected", "no_profitable_route",
    )
}  # fmt: skip
OUTCOME_OF_CODE = {
    200: "routed",
    403: "unknown_source",
    404: "no_route",
    480: "unavailable",
    484: "address_incomplete",
}
SECONDS_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25)
ROUTES_BUCKETS = (1, 2, 3, 4, 5, 6, 8, 10, 20)
ROUTING_SECONDS = Histogram(
    "c4router_routing_seconds",
    "Time to answer a routing query inside c4router (parse, decide, serialise).",
    buckets=SECONDS_BUCKETS,
)
ROUTES_PER_ANSWER = Histogram(
    "c4router_routes_per_answer",
    "Routes in a successful answer.",
    buckets=ROUTES_BUCKETS,
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
BUILD_FAILURES = Counter(
    "c4router_table_build_failures",
    "Table builds or patches that failed with the database answering (retried with backoff).",
)
LEFT_OUT_KINDS = ("normalization_rule",)
TABLE_LEFT_OUT = Gauge(
    "c4router_table_left_out_rows",
    "Rows left out of the table in use because the engine cannot run them, by kind.",
    ["kind"],
    multiprocess_mode="livemax",
)
GATEWAYS_UNHEALTHY = Gauge(
    "c4router_gateways_unhealthy",
    "Gateways the table in use leaves out or demotes (carrier health), by state: down (by "
    "their probes), demoted (by their failure rate, skip probability above 0).",
    ["state"],
    multiprocess_mode="livemax",
)
DATABASE_ERRORS = Counter(
    "c4router_database_errors", "Database errors seen while reading routing data."
)


class RoutingTally:
    """What the routing path counts, as plain numbers, added to the Prometheus metrics by
    flush().

    In multiprocess mode each Prometheus increment takes a lock and writes to a file mapped
    in memory: the five of a routing query cost 5.7 us, a fifth of handle_rtjson(). Here a
    query costs a few list increments. flush() runs from the routing path at most every
    FLUSH_SECONDS, from the table's poll thread at every check (an idle worker's last
    counts too), and before /metrics is rendered; /metrics may so lag another worker's
    counts by up to FLUSH_SECONDS.

    The counts only grow: flush() adds the difference with what it added last time, so an
    increment racing a flush is counted by the next one, not lost or counted twice (flushes
    hold a lock; the routing path never waits for it). The lean ASGI path, which serves
    Kamailio, counts from one thread; the DRF view's thread could, rarely, lose one of its
    own increments to a thread switch in the middle of one.
    """

    FLUSH_SECONDS = 0.25

    def __init__(self) -> None:
        self.outcomes = [0] * len(OUTCOME_NAMES)
        self.seconds = [0] * (len(SECONDS_BUCKETS) + 1)  # the last: +Inf
        self.seconds_sum = 0.0
        self.routes = [0] * (len(ROUTES_BUCKETS) + 1)
        self.routes_sum = 0
        self._lock = threading.Lock()
        self._due = 0.0
        self._flushed: tuple[list[int], list[int], float, list[int], int] = (
            list(self.outcomes), list(self.seconds), 0.0, list(self.routes), 0,
        )  # fmt: skip

    def outcome(self, name: str) -> None:
        """A query refused before a decision (bad request, unknown client, no table)."""
        self.outcomes[OUTCOME_INDEX[name]] += 1

    def answered(
        self, code: int, routes: int, started: float, listed: bool = False, outcome: str = ""
    ) -> None:
        """A decision: its code, how many routes (0: refused), when handling started
        (perf_counter); listed: refused by a number list, with whatever code the list
        gives (counted as "listed", not by its code); outcome: a refusal whose code the
        operator chose (a rule that rejects, "no profitable route"), counted by its name."""
        now = time.perf_counter()
        seconds = now - started
        if listed:
            index = LISTED_INDEX
        elif outcome:
            index = OUTCOME_INDEX[outcome]
        else:
            index = CODE_INDEX.get(code, REJECTED_INDEX)
        self.outcomes[index] += 1
        self.seconds[bisect.bisect_left(SECONDS_BUCKETS, seconds)] += 1
        self.seconds_sum += seconds
        if routes:
            self.routes[bisect.bisect_left(ROUTES_BUCKETS, routes)] += 1
            self.routes_sum += routes
        if now >= self._due:
            self.flush(wait=False)

    def flush(self, *, wait: bool = True) -> None:
        """Add what was counted since the last flush to the Prometheus metrics."""
        if not self._lock.acquire(blocking=wait):
            return
        try:
            self._due = time.perf_counter() + self.FLUSH_SECONDS
            now = (list(self.outcomes), list(self.seconds), self.seconds_sum,
                   list(self.routes), self.routes_sum)  # fmt: skip
            outcomes, seconds, seconds_sum, routes, routes_sum = self._flushed
            for index, count in enumerate(now[0]):
                if count != outcomes[index]:
                    OUTCOMES[OUTCOME_NAMES[index]].inc(count - outcomes[index])
            _add_to_histogram(ROUTING_SECONDS, seconds, now[1], now[2] - seconds_sum)
            _add_to_histogram(ROUTES_PER_ANSWER, routes, now[3], now[4] - routes_sum)
            self._flushed = now
        finally:
            self._lock.release()


def _add_to_histogram(histogram: Histogram, before: list[int], after: list[int],
                      added_sum: float) -> None:  # fmt: skip
    """Observations counted per bucket, added in bulk. prometheus_client has no public
    call for it: its Histogram keeps one value per bucket (_buckets, non-cumulative, the
    last +Inf) and the sum (_sum), what observe() increments (tests/routing/test_health.py
    checks the exposition against observe()'s)."""
    for index, count in enumerate(after):
        if count != before[index]:
            histogram._buckets[index].inc(count - before[index])
    if added_sum:
        histogram._sum.inc(added_sum)


OUTCOME_NAMES = tuple(OUTCOMES)
OUTCOME_INDEX = {name: index for index, name in enumerate(OUTCOME_NAMES)}
CODE_INDEX = {code: OUTCOME_INDEX[name] for code, name in OUTCOME_OF_CODE.items()}
LISTED_INDEX = OUTCOME_INDEX["listed"]
REJECTED_INDEX = OUTCOME_INDEX["rejected"]
TALLY = RoutingTally()


def record_table(table: Table, build_seconds: float) -> None:
    TABLE_VERSION.set(table.version)
    TABLE_BUILT_AT.set(time.time())
    TABLE_BUILD_SECONDS.set(build_seconds)
    for kind, count in table.counts.items():
        TABLE_ROWS.labels(kind).set(count)
    for kind in LEFT_OUT_KINDS:  # every kind, so that a fixed row goes back to 0
        TABLE_LEFT_OUT.labels(kind).set(sum(1 for row in table.left_out if row.kind == kind))
    health = table.health.values()
    GATEWAYS_UNHEALTHY.labels("down").set(sum(1 for h in health if h.down_since is not None))
    GATEWAYS_UNHEALTHY.labels("demoted").set(
        sum(1 for h in health if h.down_since is None and h.skip_probability > 0)
    )


def exposition() -> tuple[bytes, str]:
    """The metrics page body and its content type (the per-carrier traffic figures of the
    call records appended: routing.cdr.metrics, and the capacity counters:
    routing.capacity)."""
    from routing import capacity
    from routing.cdr import metrics as carrier_metrics

    TALLY.flush()
    shared = carrier_metrics.exposition() + capacity.exposition()
    if MULTIPROCESS:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry) + shared, CONTENT_TYPE_LATEST
    return generate_latest() + shared, CONTENT_TYPE_LATEST
