"""Database rows -> compiled routing table, and the per-process holder that swaps it.

The only module that knows both the ORM and the engine. Each worker process keeps one
Table, read by every request without a lock or a query; a daemon thread polls the routing
data version (one tiny query every RELOAD_INTERVAL_MS), rebuilds the table off the request
path when the version moved, and swaps the reference (an atomic assignment in Python). If
the database is unreachable, the last good table keeps serving and the thread says so in
the log until the database answers again.
"""

from __future__ import annotations

import gc
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connections, transaction

from routing import metrics, validators
from routing.engine.numbers import NumberPlan, NumberRule
from routing.engine.table import (
    CarrierRow,
    Defaults,
    DidRow,
    DomainRow,
    GatewayRow,
    PbxRow,
    RuleRow,
    SourceRow,
    Table,
    TableRows,
    TargetRow,
    TenantRow,
    Window,
    build_table,
)
from routing.models import (
    Carrier,
    Did,
    Domain,
    Gateway,
    IpSource,
    NormalizationRule,
    Pbx,
    RouterInstance,
    RouteRule,
    RouteTarget,
    RuleKind,
    Tenant,
    current_routing_version,
)

logger = logging.getLogger("c4router.loader")


def routing_db_alias() -> str:
    return getattr(settings, "ROUTING_DB_ALIAS", "default")


def defaults_from_settings() -> Defaults:
    conf = settings.C4ROUTER
    return Defaults(
        fr_timer=conf["FR_TIMER"], fr_inv_timer=conf["FR_INV_TIMER"], max_routes=conf["MAX_ROUTES"]
    )


def load_rows(using: str | None = None) -> tuple[int, TableRows]:
    """The version and every routing row, read in one consistent snapshot."""
    using = using or routing_db_alias()
    connection = connections[using]
    outermost = not connection.in_atomic_block  # inside a caller's transaction: its snapshot
    with transaction.atomic(using=using):
        if outermost and connection.vendor == "postgresql":
            # One snapshot for the version and all rows: a change committed halfway through
            # the read cannot give a table mixing old and new rows under the old version.
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        version = current_routing_version(using)
        rows = _read_rows(using)
    return version, rows


def _plans(using: str) -> dict[tuple[str, int, str], NumberPlan]:
    grouped: dict[tuple[str, int, str], list[NumberRule]] = {}
    fields = (
        "carrier_id", "pbx_id", "direction", "applies_to", "priority", "kind",
        "pattern", "replacement", "match_prefix", "strip", "add_prefix",
    )  # fmt: skip
    rows = (
        NormalizationRule.objects.using(using)
        .filter(enabled=True)
        .order_by("priority", "id")
        .values_list(*fields)
    )
    for (
        carrier_id,
        pbx_id,
        direction,
        applies_to,
        priority,
        kind,
        pattern,
        repl,
        mp,
        strip,
        add,
    ) in rows:
        owner = ("carrier", carrier_id) if carrier_id is not None else ("pbx", pbx_id)
        rule = NumberRule(
            priority=priority,
            applies_to=applies_to,
            pattern=pattern if kind == RuleKind.REGEX else None,
            replacement=repl,
            match_prefix=mp,
            strip=strip,
            add_prefix=add,
        )
        grouped.setdefault((*owner, direction), []).append(rule)
    return {key: NumberPlan.from_rules(rules) for key, rules in grouped.items()}


def _headers(text: str) -> tuple[tuple[str, str], ...]:
    return tuple(validators.parse_header_lines(text)) if text else ()


def _read_rows(using: str) -> TableRows:
    plans = _plans(using)
    empty = NumberPlan()

    tenants = tuple(
        TenantRow(id=i, name=n, enabled=e)
        for i, n, e in Tenant.objects.using(using).values_list("id", "name", "enabled")
    )
    pbx_fields = ("id", "tenant_id", "name", "host", "port", "transport", "socket", "enabled",
                  "fr_timer", "fr_inv_timer")  # fmt: skip
    pbxs = tuple(
        PbxRow(
            *values,
            inbound=plans.get(("pbx", values[0], "in"), empty),
            outbound=plans.get(("pbx", values[0], "out"), empty),
        )
        for values in Pbx.objects.using(using).values_list(*pbx_fields)
    )
    carriers = tuple(
        CarrierRow(
            id=i,
            name=n,
            enabled=e,
            from_domain=fd,
            send_pai=pai,
            extra_headers=_headers(extra),
            inbound=plans.get(("carrier", i, "in"), empty),
            outbound=plans.get(("carrier", i, "out"), empty),
        )
        for i, n, e, fd, pai, extra in Carrier.objects.using(using).values_list(
            "id", "name", "enabled", "from_domain", "send_pai", "extra_headers"
        )
    )
    gw_fields = ("id", "carrier_id", "name", "host", "port", "transport", "socket", "enabled",
                 "weight", "fr_timer", "fr_inv_timer", "strip", "prefix")  # fmt: skip
    gateways = tuple(
        GatewayRow(*values) for values in Gateway.objects.using(using).values_list(*gw_fields)
    )
    sources = tuple(
        SourceRow(*values)
        for values in IpSource.objects.using(using).values_list(
            "cidr", "carrier_id", "pbx_id", "enabled"
        )
    )
    domains = tuple(
        DomainRow(*values)
        for values in Domain.objects.using(using).values_list(
            "name", "tenant_id", "pbx_id", "enabled"
        )
    )
    dids = tuple(
        DidRow(*values)
        for values in Did.objects.using(using)
        .values_list("id", "tenant_id", "pbx_id", "number", "match", "range_end", "enabled")
        .iterator(chunk_size=10_000)
    )

    # Targets grouped per rule; rules sharing the same list share one tuple (large imports
    # give thousands of prefixes the same carriers).
    shared: dict[tuple[TargetRow, ...], tuple[TargetRow, ...]] = {}
    by_rule: dict[int, list[TargetRow]] = {}
    for rule_id, order, weight, carrier_id, gateway_id in (
        RouteTarget.objects.using(using)
        .order_by("rule_id", "order", "id")
        .values_list("rule_id", "order", "weight", "carrier_id", "gateway_id")
        .iterator(chunk_size=10_000)
    ):
        by_rule.setdefault(rule_id, []).append(
            TargetRow(order=order, weight=weight, carrier_id=carrier_id, gateway_id=gateway_id)
        )
    rule_fields = ("id", "name", "tenant_id", "prefix", "caller_prefix", "priority", "weekdays",
                   "start_time", "end_time", "timezone", "caller_id", "from_display",
                   "extra_headers")  # fmt: skip
    rules = []
    for (
        rule_id,
        name,
        tenant_id,
        prefix,
        caller_prefix,
        priority,
        weekdays,
        start,
        end,
        tz,
        caller_id,
        from_display,
        extra,
    ) in (  # fmt: skip
        RouteRule.objects.using(using)
        .filter(enabled=True)
        .values_list(*rule_fields)
        .iterator(chunk_size=10_000)
    ):
        targets = tuple(by_rule.get(rule_id, ()))
        targets = shared.setdefault(targets, targets)
        window = None
        if weekdays or start is not None:
            window = Window(
                weekdays=frozenset(int(day) for day in weekdays),
                start=start,
                end=end,
                tz=ZoneInfo(tz),
            )
        rules.append(
            RuleRow(
                id=rule_id,
                prefix=prefix,
                targets=targets,
                tenant_id=tenant_id,
                caller_prefix=caller_prefix,
                priority=priority,
                window=window,
                name=name,
                caller_id=caller_id,
                from_display=from_display,
                extra_headers=_headers(extra),
            )
        )
    tokens = frozenset(
        RouterInstance.objects.using(using).filter(enabled=True).values_list("token", flat=True)
    )
    return TableRows(
        tenants=tenants,
        pbxs=pbxs,
        carriers=carriers,
        gateways=gateways,
        sources=sources,
        domains=domains,
        dids=dids,
        rules=tuple(rules),
        tokens=tokens,
    )


def build_from_database(using: str | None = None) -> Table:
    started = time.perf_counter()
    version, rows = load_rows(using)
    table = build_table(rows, version=version, defaults=defaults_from_settings())
    logger.info(
        "routing table v%s built in %.3fs: %s",
        version,
        time.perf_counter() - started,
        ", ".join(f"{count} {name}" for name, count in table.counts.items()),
    )
    return table


@dataclass
class HolderStatus:
    """What the holder knows about its table's freshness (for /readyz and /metrics)."""

    last_check_ok_at: float | None = None
    last_error: str = ""
    consecutive_failures: int = 0
    reload_failures: int = 0
    last_build_seconds: float = 0.0
    builds: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class TableHolder:
    """One routing table per process, swapped whole when the data changes."""

    def __init__(self) -> None:
        self.table: Table | None = None
        self.status = HolderStatus()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._stop = threading.Event()

    # -- request path: no I/O, no lock ------------------------------------------------------
    def get(self) -> Table | None:
        return self.table

    # -- loading ---------------------------------------------------------------------------------
    def refresh(self, *, force: bool = False) -> bool:
        """Rebuild if the version moved (or force); True when a new table was swapped in.

        Raises on database errors: the caller decides how loudly to say so.
        """
        with self._lock:
            current = self.table
            if (
                not force
                and current is not None
                and current_routing_version(routing_db_alias()) == current.version
            ):
                self.status.last_check_ok_at = time.time()
                return False
            started = time.perf_counter()
            table = build_from_database()
            self.status.last_build_seconds = time.perf_counter() - started
            self.status.builds += 1
            self.status.last_check_ok_at = time.time()
            metrics.record_table(table.version, self.status.last_build_seconds, table.counts)
            self.table = table  # the swap: readers see the old or the new table, whole
            # The table is millions of long-lived objects: keep them out of the cyclic
            # garbage collector's scans, which would otherwise walk them all every few
            # thousand requests. (Old tables are freed by reference counting.)
            gc.freeze()
            return True

    def ensure_loaded(self) -> Table | None:
        """The table, building it now if this process has none yet (first request)."""
        if self.table is None:
            try:
                self.refresh()
            except Exception:
                logger.exception("routing table: first build failed")
                self._note_failure("first build failed")
        self.start_polling()
        return self.table

    # -- the poller ------------------------------------------------------------------------------
    def start_polling(self) -> None:
        if not settings.C4ROUTER.get("RELOAD_THREAD", True):
            return
        pid = os.getpid()
        if self._thread is not None and self._thread.is_alive() and self._pid == pid:
            return
        with self._lock:
            if self._thread is not None and self._thread.is_alive() and self._pid == pid:
                return
            self._pid = pid
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._poll_forever, name="c4router-table-reload", daemon=True
            )
            self._thread.start()

    def stop_polling(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._thread = None

    def _poll_forever(self) -> None:
        interval = settings.C4ROUTER["RELOAD_INTERVAL_MS"] / 1000
        while not self._stop.wait(interval):
            try:
                self.refresh()
            except Exception as exc:
                self._note_failure(str(exc).strip().splitlines()[0] if str(exc) else repr(exc))
                # Drop the broken connection: the next poll opens a fresh one.
                connections[routing_db_alias()].close()
            else:
                if self.status.consecutive_failures:
                    logger.warning(
                        "routing table: database reachable again after %d failed checks; "
                        "serving v%s",
                        self.status.consecutive_failures,
                        self.table.version if self.table else "?",
                    )
                self.status.consecutive_failures = 0
                self.status.last_error = ""

    def _note_failure(self, message: str) -> None:
        metrics.RELOAD_FAILURES.inc()
        metrics.DATABASE_ERRORS.inc()
        self.status.consecutive_failures += 1
        self.status.reload_failures += 1
        self.status.last_error = message
        failures = self.status.consecutive_failures
        # Say it at once, then about every minute, not at every poll.
        if (
            failures == 1
            or failures % max(1, int(60_000 / settings.C4ROUTER["RELOAD_INTERVAL_MS"])) == 0
        ):
            table = self.table
            if table is None:
                logger.error("routing table: database unreachable and no table yet: %s", message)
            else:
                age = (datetime.now(UTC) - table.built_at).total_seconds()
                logger.error(
                    "routing table: database unreachable (%s); still serving v%s built %.0fs ago",
                    message,
                    table.version,
                    age,
                )


holder = TableHolder()
