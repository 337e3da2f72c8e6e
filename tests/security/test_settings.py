"""Issue 11, what a deployment shows and accepts: /readyz details, `check --deploy`.

One test per finding, named after its number in the issue (test_fNN_...).
"""

from __future__ import annotations

import io
import ipaddress
import re
import secrets
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import override_settings

from routing.loader import holder
from tests.routing.test_health import asgi_get
from tests.test_settings import PRODUCTION, REPO
from tests.test_settings import run as run_settings

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


# --- 17. check --deploy ---------------------------------------------------------------------------


def deploy_check_ids(**overrides: object) -> set[str]:
    """The ids of c4router's own messages from `manage.py check --deploy` under overrides."""
    out, err = io.StringIO(), io.StringIO()
    with override_settings(**overrides):
        call_command("check", "--deploy", stdout=out, stderr=err)
    return set(re.findall(r"\(c4router\.W\d+\)", out.getvalue() + err.getvalue()))


def c4router_with(**values: object) -> dict[str, object]:
    return {"C4ROUTER": {**settings.C4ROUTER, **values}}


def nets(*cidrs: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(cidr) for cidr in cidrs]


def test_f17_production_with_weak_values_is_flagged_by_check_deploy(tmp_path: Path) -> None:
    """The issue's case, as an operator runs it: production settings from the environment."""
    result = run_settings(
        ["manage.py", "check", "--deploy"], tmp_path,
        **{**PRODUCTION, "C4ROUTER_API_TOKEN": "a", "C4ROUTER_API_ALLOWED_NETS": "0.0.0.0/0",
           "ALLOWED_HOSTS": "*", "SECRET_KEY": "abcde" * 10},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr  # warnings: the operator decides
    for check_id in ("W001", "W002", "W004", "W005"):
        assert f"(c4router.{check_id})" in result.stderr, check_id
    assert "C4ROUTER_API_TOKEN has 1 characters, fewer than 32" in result.stderr
    assert "C4ROUTER_API_ALLOWED_NETS holds 0.0.0.0/0" in result.stderr


def test_f17_check_deploy_flags_a_weak_api_token(db) -> None:
    for weak in ("a", "x" * 40, "abcd" * 10, "0123456789abcdef0123456789abcdef"[:31],
                 "lab-only-api-token-0123456789"):  # fmt: skip
        assert deploy_check_ids(**c4router_with(API_TOKEN=weak)) == {"(c4router.W001)"}, weak
    for fine in ("", secrets.token_urlsafe(32), secrets.token_hex(16)):
        assert deploy_check_ids(**c4router_with(API_TOKEN=fine)) == set(), fine


def test_f17_check_deploy_flags_allow_lists_open_to_the_internet(db) -> None:
    for broad in ("0.0.0.0/0", "::/0", "0.0.0.0/1", "128.0.0.0/1", "8000::/1", "2000::/3",
                  "64.0.0.0/8"):  # fmt: skip
        allowed = nets("127.0.0.0/8", broad)
        assert deploy_check_ids(**c4router_with(API_ALLOWED_NETS=allowed)) == {"(c4router.W002)"}, (
            broad
        )
        assert deploy_check_ids(**c4router_with(METRICS_ALLOWED_NETS=allowed)) == {
            "(c4router.W003)"
        }, broad
    private = nets("127.0.0.0/8", "::1/128", "10.0.0.0/8", "192.0.2.0/24", "fc00::/7",
                   "2001:db8::/32", "64.0.0.0/9")  # fmt: skip
    assert deploy_check_ids(**c4router_with(API_ALLOWED_NETS=private,
                                            METRICS_ALLOWED_NETS=private)) == set()  # fmt: skip


def test_f17_check_deploy_flags_any_host(db) -> None:
    assert deploy_check_ids(ALLOWED_HOSTS=["c4router.example", "*"]) == {"(c4router.W004)"}
    assert deploy_check_ids(ALLOWED_HOSTS=["c4router.example", ".c4router.example"]) == set()


def test_f17_check_deploy_flags_a_low_entropy_secret_key(db) -> None:
    for weak in ("abcde" * 10, "0123456" * 8,
                 "lab-only-NOT-SECRET-c4router-compose-lab-key-0123456789abcdefghijklmnop",
                 "collectstatic-only-not-a-real-secret-key-0123456789abcdefghij"):  # fmt: skip
        assert deploy_check_ids(SECRET_KEY=weak) == {"(c4router.W005)"}, weak
    assert deploy_check_ids(SECRET_KEY=secrets.token_urlsafe(50)) == set()
    # What Django's own security.W009 reports (too short, too few characters) is not repeated.
    assert deploy_check_ids(SECRET_KEY="a" * 60) == set()


def test_f17_the_published_secrets_are_those_of_the_repository() -> None:
    """PUBLISHED_SECRETS follows the files that publish them."""
    from c4router.checks import PUBLISHED_SECRETS

    lab = dict(
        line.split("=", 1)
        for line in (REPO / "docker" / "lab" / "c4router.env").read_text().splitlines()
        if line and not line.startswith("#")
    )
    build_key = re.search(r"SECRET_KEY=(\S+)", (REPO / "Dockerfile").read_text())
    assert build_key is not None
    assert {lab["SECRET_KEY"], lab["C4ROUTER_API_TOKEN"], build_key[1]} <= PUBLISHED_SECRETS
