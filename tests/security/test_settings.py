"""Issue 11, what a deployment shows and accepts: /readyz details, `check --deploy`.

One test per finding, named after its number in the issue (test_fNN_...).
"""

from __future__ import annotations

import time

import pytest

from routing.loader import holder
from tests.routing.test_health import asgi_get

# What psycopg says when the database is unreachable: host, address, port and role.
DB_ERROR = (
    'connection failed: connection to server at "db.internal" (10.0.0.5), port 5432 failed: '
    'FATAL: password authentication failed for user "c4router"'
)


@pytest.fixture
def unreachable(monkeypatch, live_table):  # type: ignore[no-untyped-def]
    """The database unreachable for 30 s: routing goes on from the last table."""
    status = type(holder.status)()
    status.last_check_ok_at = time.time() - 30
    status.consecutive_failures = 12
    status.last_error = DB_ERROR
    monkeypatch.setattr(holder, "status", status)
    return status


# --- 8. /readyz ---------------------------------------------------------------------------------


def test_f08_readyz_details_only_for_the_metrics_networks(client, unreachable, settings):
    outside = "203.0.113.50"
    for response in (
        client.get("/readyz", REMOTE_ADDR=outside),  # through Django
        asgi_get("/readyz", client_ip=outside),  # through the lean ASGI handler
    ):
        assert response.status_code == 200
        assert response.json() == {"status": "degraded"}  # what a load balancer needs
        assert "db.internal" not in response.text and "5432" not in response.text
    for response in (client.get("/readyz"), asgi_get("/readyz", client_ip="127.0.0.1")):
        document = response.json()
        assert document["status"] == "degraded"
        assert document["database_error"] == DB_ERROR  # the loopback is a metrics network
        assert document["table"]["checked_seconds_ago"] >= 30
    # The networks are C4ROUTER_METRICS_ALLOWED_NETS, whatever they are.
    settings.C4ROUTER = {**settings.C4ROUTER, "METRICS_ALLOWED_NETS": []}
    assert client.get("/readyz").json() == {"status": "degraded"}
    holder.table = None  # live_table puts it back
    response = asgi_get("/readyz", client_ip=outside)
    assert response.status_code == 503 and response.json() == {"status": "unavailable"}
