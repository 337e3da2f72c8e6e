"""manage.py demo_calls (the demo's token and two queries to try) and the address that
ensure_admin prints: the quick start's first query and its real port."""

from __future__ import annotations

import json
import re
import shlex
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from routing.demo import DEMO_CALLS, curl_command, seed_demo
from routing.loader import holder
from routing.models import RouterInstance

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def curl_parts(line: str) -> dict[str, object]:
    words = shlex.split(line)
    assert words[:4] == ["curl", "-s", "-w", "\\n"]
    headers = [words[i + 1] for i, word in enumerate(words) if word == "-H"]
    return {
        "headers": dict(h.split(": ", 1) for h in headers),
        "body": json.loads(words[words.index("-d") + 1]),
        "url": words[-1],
    }


def test_demo_calls_prints_the_token_and_two_one_line_curl_commands(settings) -> None:  # type: ignore[no-untyped-def]
    settings.SITE_URL = "http://127.0.0.1:9000/"
    seed_demo()
    token = RouterInstance.objects.get(name="edge1").token

    lines = run("demo_calls").splitlines()

    assert lines[0] == f"Kamailio's token (router instance edge1, sent as X-C4-Token): {token}"
    curls = [line for line in lines if line.startswith("curl ")]
    assert len(curls) == 2 and len(lines) == 5
    for line, call in zip(curls, DEMO_CALLS, strict=True):
        parts = curl_parts(line)
        assert parts["headers"] == {"X-C4-Token": token, "Content-Type": "application/json"}
        assert parts["body"] == call.query
        assert parts["url"] == "http://127.0.0.1:9000/kamailio/rtjson"
    assert "a call that routes" in lines[1] and "a call that is refused" in lines[3]


def test_the_two_demo_queries_are_routed_and_refused_as_they_say(settings) -> None:  # type: ignore[no-untyped-def]
    """The same queries through the routing endpoint (the DRF view, in process); the quick
    start test sends the printed commands to a real server."""
    seed_demo()
    token = RouterInstance.objects.get(name="edge1").token
    previous = holder.table
    holder.refresh(force=True)  # this test's data, whatever an earlier test left loaded
    try:
        routed, refused = _ask_both(token)
    finally:
        holder.table = previous
    assert routed["success"] is True
    assert [route["dst_uri"] for route in routed["routes"]] == [
        "sip:192.0.2.40:5060",  # Gamma's gamma-1
        "sip:203.0.113.10:5060",  # Alpha's alpha-1
    ]
    assert (refused["success"], refused["code"], refused["reason"]) == (False, 404, "No Route")


def _ask_both(token: str) -> tuple[dict[str, object], dict[str, object]]:
    routed, refused = (
        Client()
        .post(
            "/kamailio/rtjson",
            call.query,
            content_type="application/json",
            headers={"X-C4-Token": token},
            REMOTE_ADDR="127.0.0.1",
        )
        .json()["rtjson"]
        for call in DEMO_CALLS
    )
    return routed, refused


def test_a_token_an_admin_typed_is_shell_quoted() -> None:
    line = curl_command("http://127.0.0.1:8000/", "it's a 'token' $(rm -rf x)", {"to_uri": "1"})
    assert "\n" not in line
    assert curl_parts(line)["headers"]["X-C4-Token"] == "it's a 'token' $(rm -rf x)"  # type: ignore[index]


def test_demo_calls_without_the_demo_says_how_to_load_it() -> None:
    with pytest.raises(CommandError, match="no enabled router instance 'edge1': load the demo"):
        run("demo_calls")


def test_ensure_admin_prints_the_address_of_the_c4router_url_setting(settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("C4ROUTER_ADMIN_PASSWORD", raising=False)
    settings.SITE_URL = "http://127.0.0.1:9000/"
    assert re.match(
        r"Admin login: http://127\.0\.0\.1:9000/admin/  user: admin  password: \S{16}",
        run("ensure_admin", "--reset"),
    )
    # --url still wins.
    assert "http://c4.example/admin/" in run("ensure_admin", "--url", "http://c4.example/admin/")


def test_seed_demo_points_edge1_at_this_c4router(settings) -> None:  # type: ignore[no-untyped-def]
    settings.SITE_URL = "http://127.0.0.1:9000/"
    seed_demo()
    assert RouterInstance.objects.get(name="edge1").api_urls == (
        "http://127.0.0.1:9000/kamailio/rtjson"
    )
