"""Issue 11, the configuration API tried as an attacker: bounded pages, streamed exports,
numbers the database cannot hold (findings 6 and 12)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from routing import imports
from routing.models import RouteRule, RouteTarget
from tests.api import factories

REPO = Path(__file__).resolve().parent.parent.parent
MAX_LIMIT = 1000  # the documented page size bound (routing.api.pagination)
HUGE = "9223372036854775808"  # 2**63: one more than PostgreSQL's bigint holds
ID_24_DIGITS = "123456789012345678901234"


@pytest.fixture
def api_client(admin_user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(admin_user)
    return client


def _rules(count: int, carrier: Any = None) -> None:
    carrier = carrier or factories.carrier(name="Alpha Telecom")
    rules = RouteRule.objects.bulk_create(RouteRule(prefix=f"4{n:06d}") for n in range(count))
    RouteTarget.objects.bulk_create(
        RouteTarget(rule=rule, order=0, carrier=carrier) for rule in rules
    )


# --- 6: ?limit= is unbounded -------------------------------------------------------------------


@pytest.mark.django_db
def test_f06_limit_is_bounded(api_client: APIClient) -> None:
    _rules(3)
    refused = api_client.get("/api/v1/route-rules/?limit=1000000")
    assert refused.status_code == 400
    assert refused.json() == {"limit": [f"Enter a whole number between 1 and {MAX_LIMIT:,}."]}
    page = api_client.get(f"/api/v1/route-rules/?limit={MAX_LIMIT}")
    assert page.status_code == 200 and page.json()["count"] == 3
    # Not a number: said so, rather than silently served with the default page size.
    assert api_client.get("/api/v1/route-rules/?limit=abc").status_code == 400


@pytest.mark.django_db
def test_f06_page_bounds_are_in_the_openapi_schema(api_client: APIClient) -> None:
    schema = api_client.get("/api/schema/?format=json").json()
    parameters = {
        p["name"]: p for p in schema["paths"]["/api/v1/route-rules/"]["get"]["parameters"]
    }
    assert parameters["limit"]["schema"] == {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}
    assert parameters["offset"]["schema"]["maximum"] == 2**31 - 1


@pytest.mark.django_db
def test_f06_api_export_streams(api_client: APIClient) -> None:
    _rules(imports.BATCH_SIZE * 2 + 10)
    response = api_client.get("/api/v1/route-rules/export/")
    assert response.status_code == 200
    assert response.streaming
    chunks = list(response.streaming_content)
    # One chunk per batch of rows, not the whole file at once.
    assert len(chunks) >= 3
    lines = b"".join(chunks).decode().splitlines()
    assert lines[0].startswith("tenant,name,prefix,")
    assert len(lines) == 1 + imports.BATCH_SIZE * 2 + 10
    assert lines[1].split(",")[2] == "4000000"
    assert lines[1].endswith(",carrier:Alpha Telecom@0/100,route,,,,,,,priority,")


@pytest.mark.django_db
def test_f06_admin_export_streams(admin_client: Any) -> None:
    _rules(imports.BATCH_SIZE + 1)
    response = admin_client.get("/admin/routing/routerule/export-csv/")
    assert response.status_code == 200 and response.streaming
    chunks = list(response.streaming_content)
    assert len(chunks) >= 2
    assert len(b"".join(chunks).decode().splitlines()) == imports.BATCH_SIZE + 2


def _asgi_get(
    path: str, headers: list[tuple[bytes, bytes]]
) -> tuple[int, dict[bytes, bytes], list[bytes]]:
    """GET through Django's real ASGI handler, as uvicorn calls it; the body messages."""
    from django.core.asgi import get_asgi_application

    application = get_asgi_application()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"localhost"), *headers],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }
    messages: list[dict[str, Any]] = []
    sent_request = False

    async def receive() -> dict[str, Any]:
        nonlocal sent_request
        if not sent_request:
            sent_request = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.sleep(3600)  # no disconnect while the answer streams
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    asyncio.run(asyncio.wait_for(application(scope, receive, send), 60))
    start = next(m for m in messages if m["type"] == "http.response.start")
    bodies = [m.get("body", b"") for m in messages if m["type"] == "http.response.body"]
    return start["status"], {k.lower(): v for k, v in start["headers"]}, bodies


@pytest.mark.django_db(transaction=True)
def test_f06_export_streams_under_asgi_without_buffering(admin_user: Any) -> None:
    """Under uvicorn the export is streamed (no Content-Length: it is not built first), and
    Django does not warn that it had to read a synchronous iterator whole before sending it
    ("must consume synchronous iterators"), which would buffer the whole file again."""
    _rules(imports.BATCH_SIZE * 2 + 10)
    token = Token.objects.create(user=admin_user).key
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Django's warning (category Warning) fails the test
        status, headers, bodies = _asgi_get(
            "/api/v1/route-rules/export/", [(b"authorization", f"Token {token}".encode())]
        )
    assert status == 200
    assert b"content-length" not in headers
    chunks = [body for body in bodies if body]
    assert len(chunks) >= 3
    assert len(b"".join(chunks).decode().splitlines()) == 1 + imports.BATCH_SIZE * 2 + 10


# --- 12: numbers beyond 64 bits ----------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query",
    [
        f"limit={HUGE}",
        f"offset={HUGE}",
        "offset=99999999999999999999999",
        "limit=-1",
        "offset=-5",
    ],
)
def test_f12_huge_limit_or_offset_is_a_400(api_client: APIClient, query: str) -> None:
    factories.route_rule()
    response = api_client.get(f"/api/v1/route-rules/?{query}")
    assert response.status_code == 400
    name = query.split("=", maxsplit=1)[0]
    assert list(response.json()) == [name]
    assert "Enter a whole number between" in response.json()[name][0]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    [
        f"/api/v1/route-rules/?tenant={ID_24_DIGITS}",
        f"/api/v1/route-rules/?gateway={ID_24_DIGITS}",
        f"/api/v1/ip-sources/?tenant={ID_24_DIGITS}",
        f"/api/v1/dids/?pbx={ID_24_DIGITS}",
    ],
)
def test_f12_huge_id_filter_is_a_400(api_client: APIClient, path: str) -> None:
    factories.route_rule()
    response = api_client.get(path)
    assert response.status_code == 400
    [(_name, [message])] = response.json().items()
    assert message.startswith("Select a valid choice.")


SQLITE_PROBE = """
import json, sys
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.contrib.auth.models import User
from rest_framework.test import APIClient
from routing.models import RouteRule, Tenant
RouteRule.objects.create(prefix="33")
Tenant.objects.create(name="Acme")
client = APIClient(HTTP_HOST="localhost")
client.force_authenticate(User.objects.create_superuser("admin", "a@example.com", "pw"))
out = {}
for path in sys.argv[1:]:
    response = client.get(path)
    out[path] = [response.status_code, response.json()]
print("RESULT " + json.dumps(out))
"""


def test_f12_huge_numbers_are_a_400_on_sqlite(tmp_path: Path) -> None:
    """The same on the embedded SQLite (dev mode, the quick start), where a 24-digit id
    raised OverflowError inside the query."""
    paths = [
        f"/api/v1/route-rules/?tenant={ID_24_DIGITS}",
        f"/api/v1/pbxs/?tenant={ID_24_DIGITS}",
        f"/api/v1/route-rules/?limit={HUGE}",
        f"/api/v1/route-rules/?offset={HUGE}",
    ]
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "DATABASE_REPLICA_URL"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="c4router.settings",
        C4ROUTER_MODE="dev",
        C4ROUTER_VAR_DIR=str(tmp_path),
        LOG_LEVEL="CRITICAL",
    )
    done = subprocess.run(
        [sys.executable, "-c", SQLITE_PROBE, *paths], cwd=REPO, env=env, capture_output=True,
        text=True, timeout=180, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
    answers = json.loads(line.removeprefix("RESULT "))
    for path in paths:
        status, body = answers[path]
        assert status == 400, (path, body)
        assert isinstance(body, dict) and len(body) == 1, (path, body)
