"""/healthz, /readyz and /metrics: cheap answers for load balancers and Prometheus.

None of them touches the database: readiness comes from what the table holder already
knows (its reload thread checks the database several times a second).
"""

from __future__ import annotations

import time

import orjson
from django.conf import settings

from routing import metrics
from routing.loader import BUILD, BUILD_RETRY_MAX_SECONDS, holder

Answer = tuple[int, bytes, str]
JSON = "application/json"


def healthz() -> Answer:
    """The process is alive and serving HTTP."""
    return 200, b'{"status":"alive"}', JSON


def readiness(now: float | None = None) -> tuple[int, dict[str, object]]:
    now = time.time() if now is None else now
    table = holder.get()
    status = holder.status
    interval = settings.C4ROUTER["RELOAD_INTERVAL_MS"] / 1000
    last_ok = status.last_check_ok_at
    blind_for = None if last_ok is None else now - last_ok
    # The database answered, but the table cannot be built from its rows: not an outage.
    # Its retries back off (up to BUILD_RETRY_MAX_SECONDS), and the last one was answered.
    build_failing = status.error_kind == BUILD
    fresh = max(5.0, 10 * interval)
    # Reachable: the last check succeeded, and recently (a stuck thread is not "reachable").
    reachable = blind_for is not None and (
        blind_for < fresh + BUILD_RETRY_MAX_SECONDS
        if build_failing
        else status.consecutive_failures == 0 and blind_for < fresh
    )
    document: dict[str, object] = {
        "database": "reachable" if reachable else "unreachable",
    }
    failing = f"table build failing: {status.last_error}" if build_failing else ""
    if status.last_error and not build_failing:
        document["database_error"] = status.last_error
    if table is None:
        document["status"] = "unavailable"
        document["reason"] = failing or "no routing table yet"
        return 503, document
    document["table"] = {
        "version": table.version,
        "built_at": table.built_at.isoformat(timespec="seconds"),
        "age_seconds": round(now - table.built_at.timestamp(), 1),
        "checked_seconds_ago": None if blind_for is None else round(blind_for, 1),
        "rows": table.counts,
        # Rows the engine cannot run (a pattern RE2 refuses...): the rest of the table
        # routes; the admin shows the same rows.
        "left_out": [
            {"kind": row.kind, "id": row.id, "reason": row.reason} for row in table.left_out
        ],
    }
    if failing:
        # Routing goes on from the last table, but changes do not arrive. Every node reads
        # the same rows and fails alike: a 503 would take them all out, so 200.
        document["status"] = "degraded"
        document["reason"] = failing
        return 200, document
    max_blind = settings.C4ROUTER["READY_MAX_STALE_SECONDS"]
    if reachable:
        document["status"] = "ok"
        return 200, document
    if blind_for is not None and blind_for <= max_blind:
        # Routing still answers from the last good table: ready, but say it.
        document["status"] = "degraded"
        return 200, document
    document["status"] = "unavailable"
    document["reason"] = f"database unreachable for more than {max_blind}s"
    return 503, document


def readyz(detailed: bool) -> Answer:
    """Readiness for anyone (the status: all a load balancer needs), with the details (the
    database's error, the table) only for clients in C4ROUTER_METRICS_ALLOWED_NETS: the
    error names the database's host, port and role."""
    code, document = readiness()
    if not detailed:
        document = {"status": document["status"]}
    return code, orjson.dumps(document), JSON


def metrics_page(client_ip: str | None, allowed: bool) -> Answer:
    if not allowed:
        return 403, orjson.dumps({"error": f"client {client_ip} may not read metrics"}), JSON
    body, content_type = metrics.exposition()
    return 200, body, content_type
