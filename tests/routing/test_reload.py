"""A running server (ASGI, PostgreSQL) follows routing changes and outlives a database outage."""

from __future__ import annotations

import time
import uuid

import httpx
import orjson
import pytest
from django.db import connection

from routing.models import RouteTarget
from tests.live import C4RouterServer, database_url_of_test_db

from .conftest import TOKEN, make_routing_data

pytestmark = pytest.mark.django_db(transaction=True)

QUERY = orjson.dumps(
    {"event": "sip-routing", "source_ip": "10.10.0.10", "source_port": 5060,
     "call_id": "reload@test", "from_uri": "sip:0123456789@10.10.0.10",
     "to_uri": "sip:0612345678@x", "to_tag": "<null>"}
)  # fmt: skip


def first_gateway(http: httpx.Client) -> str:
    response = http.post("/kamailio/rtjson", content=QUERY)
    assert response.status_code == 200, response.text
    return response.json()["rtjson"]["routes"][0]["dst_uri"]


def client(server: C4RouterServer) -> httpx.Client:
    headers = {"Content-Type": "application/json", "X-C4-Token": TOKEN}
    return httpx.Client(base_url=server.url, headers=headers, timeout=2.0)


def swap_france_targets(data) -> None:  # type: ignore[no-untyped-def]
    """What an admin does in the rule's target inline: Beta first, Alpha second."""
    RouteTarget.objects.filter(rule=data.france, gateway=data.alpha1).update(order=5)
    for target in RouteTarget.objects.filter(rule=data.france):
        target.save()  # the signal bumps the routing version, as the admin's save does


def wait_for_change(http: httpx.Client, before: str, deadline: float) -> tuple[str, float]:
    started = time.monotonic()
    while time.monotonic() - started < deadline:
        answer = first_gateway(http)  # asserts every answer during the swap is a 200
        if answer != before:
            return answer, time.monotonic() - started
        time.sleep(0.01)
    raise AssertionError(f"still {before} after {deadline}s")


@pytest.mark.parametrize("server_kind", ["uvicorn", "gunicorn"])
def test_a_change_is_live_in_every_worker_within_a_second(tmp_path, server_kind):
    data = make_routing_data()
    old, new = "sip:203.0.113.10:5060", "sip:192.0.2.20:5080"
    with C4RouterServer(tmp_path, server=server_kind, workers=2) as server:
        with client(server) as http:
            assert first_gateway(http) == old
        swap_france_targets(data)
        committed = time.monotonic()
        # Each request on a fresh connection, so both workers answer; every answer is a 200.
        # Done when 30 answers in a row have the change: the last old answer tells when the
        # slowest worker caught up.
        last_old = committed
        streak = 0
        while streak < 30:
            assert time.monotonic() - committed < 10, "the change never reached every worker"
            with client(server) as fresh:
                answer = first_gateway(fresh)
            if answer == old:
                last_old, streak = time.monotonic(), 0
            else:
                assert answer == new
                streak += 1
        lag = last_old - committed
        assert lag < 1.0, f"a worker still answered the old route {lag:.2f}s after the commit"


@pytest.fixture
def reader_role():  # type: ignore[no-untyped-def]
    """A login role for the server only, so the test can take the database away from it."""
    role = f"c4router_reader_{uuid.uuid4().hex[:8]}"
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE ROLE "{role}" LOGIN')
        cursor.execute(f'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{role}"')
    yield role
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", [role]
        )
        cursor.execute(f'DROP OWNED BY "{role}"')
        cursor.execute(f'DROP ROLE "{role}"')


def cut_off(role: str, *, allowed: bool) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f'ALTER ROLE "{role}" {"LOGIN" if allowed else "NOLOGIN"}')
        if not allowed:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", [role]
            )


def test_database_gone_keeps_answering_from_the_last_table_and_recovers(tmp_path, reader_role):
    data = make_routing_data()
    url = database_url_of_test_db(user=reader_role)
    with C4RouterServer(tmp_path, database_url=url) as server, client(server) as http:
        assert first_gateway(http) == "sip:203.0.113.10:5060"
        cut_off(reader_role, allowed=False)
        deadline = time.monotonic() + 10
        while "database unreachable" not in server.log_text():
            assert time.monotonic() < deadline, server.log_text()[-2000:]
            assert first_gateway(http) == "sip:203.0.113.10:5060"  # still routing
            time.sleep(0.05)
        assert "still serving v" in server.log_text()
        for _ in range(50):
            assert first_gateway(http) == "sip:203.0.113.10:5060"

        swap_france_targets(data)  # changed while the server cannot see it
        time.sleep(0.5)
        assert first_gateway(http) == "sip:203.0.113.10:5060"
        cut_off(reader_role, allowed=True)
        answer, _ = wait_for_change(http, "sip:203.0.113.10:5060", deadline=10.0)
        assert answer == "sip:192.0.2.20:5080"
        assert "database reachable again" in server.log_text()


def test_two_api_nodes_on_one_database_follow_a_change_made_through_either(tmp_path):
    """Two c4router servers (two ports, as two hosts would be) on one PostgreSQL: a rule
    changed through node A's REST API is live on A and B within the reload bound."""
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    data = make_routing_data()
    admin = get_user_model().objects.create_superuser("ops", "ops@example.com", "pw-ops-1234")
    api_token = Token.objects.create(user=admin).key
    old, new = "sip:203.0.113.10:5060", "sip:192.0.2.20:5080"
    with (
        C4RouterServer(tmp_path) as node_a,
        C4RouterServer(tmp_path) as node_b,
        client(node_a) as a,
        client(node_b) as b,
    ):
        assert first_gateway(a) == old and first_gateway(b) == old
        response = httpx.patch(
            f"{node_a.url}/api/v1/route-rules/{data.france.pk}/",
            json={"targets": [{"gateway": data.beta1.pk}, {"gateway": data.alpha1.pk}]},
            headers={"Authorization": f"Token {api_token}"},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        committed = time.monotonic()
        # Ask both nodes in turn until both answer the new route.
        live_after: dict[str, float] = {}
        while len(live_after) < 2:
            assert time.monotonic() - committed < 10, f"only {live_after} changed"
            for name, node in (("A", a), ("B", b)):
                if name not in live_after and first_gateway(node) == new:
                    live_after[name] = time.monotonic() - committed
            time.sleep(0.01)
        assert max(live_after.values()) < 1.0, live_after
