"""/healthz, /readyz and /metrics: cheap answers for load balancers and Prometheus.

None of them touches the database: readiness comes from what the table holder already
knows (its reload thread checks the database several times a second).
"""

from __future__ import annotations

import time

import orjson
from django.conf import settings

from routing import metrics
from routing.loader import holder

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
    # Reachable: the last check succeeded, and recently (a stuck thread is not "reachable").
    reachable = (
        status.consecutive_failures == 0
        and blind_for is not None
        and blind_for < max(5.0, 10 * interval)
    )
    document: dict[str, object] = {
        "database": "reachable" if reachable else "unreachable",
    }
    if status.last_error:
        document["database_error"] = status.last_error
    if table is None:
        document["status"] = "unavailable"
        document["reason"] = "no routing table yet"
        return 503, document
    document["table"] = {
        "version": table.version,
        "built_at": table.built_at.isoformat(timespec="seconds"),
        "age_seconds": round(now - table.built_at.timestamp(), 1),
        "checked_seconds_ago": None if blind_for is None else round(blind_for, 1),
        "rows": table.counts,
    }
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
