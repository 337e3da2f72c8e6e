"""Issue 11, who gets in: tokens, logins, the admin's secrets, the client's address.

One test per finding, named after its number in the issue (test_fNN_...).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from datetime import timedelta
from typing import Any

import httpx
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.utils import timezone

from routing.loader import build_from_database
from routing.models import RouteRule, RouteTarget
from tests.live import REPO, C4RouterServer
from tests.routing.conftest import TOKEN, saved
from tests.routing.test_endpoint import URL, outbound, post

SHARED_TOKEN = "shared-api-token-0123456789abcdef0123456789"


def asgi_post(body: bytes, token: bytes) -> httpx.Response:
    """One query through the lean ASGI path, with the token's raw bytes as the header."""
    from c4router.asgi import application

    async def run() -> httpx.Response:
        transport = httpx.ASGITransport(app=application, client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://c4router") as http:
            return await http.post(
                URL, content=body, headers={"Content-Type": "application/json", "X-C4-Token": token}
            )

    return asyncio.run(run())


# --- 7. X-C4-Token ------------------------------------------------------------------------------


def test_f07_a_non_ascii_token_is_an_unknown_token(client, live_table, settings, caplog):
    for shared in (SHARED_TOKEN, ""):  # with and without C4ROUTER_API_TOKEN
        settings.C4ROUTER = {**settings.C4ROUTER, "API_TOKEN": shared}
        with caplog.at_level(logging.WARNING):
            # Through Django (C4ROUTER_LEAN_ASGI=0): a header the server decoded as latin-1,
            # and a str no header could carry.
            for token in ("été-token-0123456789", "token-😀-0123456789"):
                response = post(client, outbound(), token=token)
                assert response.status_code == 403, token
                assert response.json() == {"error": "missing or unknown X-C4-Token header"}
            # Through the lean ASGI path, as Kamailio or anyone would send it: raw bytes.
            for raw in (b"\xe9t\xe9-token-0123456789", "été-token".encode(), b"\xff" * 40):
                response = asgi_post(outbound(), raw)
                assert response.status_code == 403, raw
                assert response.json() == {"error": "missing or unknown X-C4-Token header"}
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
        # The right tokens still work on both paths.
        assert post(client, outbound()).status_code == 200
        assert asgi_post(outbound(), TOKEN.encode()).status_code == 200
        if shared:
            assert post(client, outbound(), token=shared).status_code == 200
            assert post(client, outbound(), token=shared[:-1] + "X").status_code == 403


def test_f07_the_table_keeps_digests_of_the_tokens_not_the_tokens(routing_data):
    """The endpoint looks tokens up by SHA-256 digest (constant time with respect to the
    tokens, one probe for any number of instances): the table has no plain token to compare
    a guess with, byte by byte."""
    table = build_from_database()
    assert table.token_digests == {hashlib.sha256(TOKEN.encode()).digest()}
    plain = [name for name in table.__slots__ if TOKEN in repr(getattr(table, name))]
    assert plain == []


# --- 5. router-instance tokens in the admin -------------------------------------------------------


def staff_with(django_user_model, *codenames: str):  # type: ignore[no-untyped-def]
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user(
        f"staff-{'-'.join(codenames)}", password="irrelevant-0123", is_staff=True
    )
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return user


def test_f05_view_only_staff_do_not_see_router_instance_tokens(
    client, routing_data, django_user_model
):
    url = f"/admin/routing/routerinstance/{routing_data.instance.pk}/change/"
    client.force_login(staff_with(django_user_model, "view_routerinstance"))
    page = client.get(url)
    assert page.status_code == 200
    text = page.content.decode()
    assert "edge1" in text and "127.0.0.1" in text  # the rest of the instance is shown
    assert TOKEN not in text
    assert TOKEN[:-4] not in text
    assert "…" + TOKEN[-4:] in text  # enough to tell which token Kamailio has
    # Nor anywhere else a view-only user can go.
    for other in (
        "/admin/routing/routerinstance/",
        f"/admin/routing/routerinstance/{routing_data.instance.pk}/history/",
    ):
        response = client.get(other)
        assert response.status_code == 200 and TOKEN not in response.content.decode(), other

    # Whoever may change the instance may set a new token anyway: they still see it.
    client.force_login(
        staff_with(django_user_model, "view_routerinstance", "change_routerinstance")
    )
    assert f'name="token" value="{TOKEN}"' in client.get(url).content.decode()


# --- 16. the route tester's time ---------------------------------------------------------------


def test_f16_route_tester_edge_dates_are_a_form_error(admin_client, routing_data):
    # Time windows in zones far from UTC: each rule is checked in its local time.
    routing_data.france.weekdays, routing_data.france.timezone = "12345", "Pacific/Kiritimati"
    routing_data.france.save()
    other = RouteRule(name="US", prefix="1", weekdays="67", timezone="America/Los_Angeles")
    saved(other)
    saved(RouteTarget(rule=other, gateway=routing_data.alpha1, order=0))

    def tester(at: str, to_uri: str) -> Any:
        query = {"source_ip": "10.10.0.10", "to_uri": to_uri, "at": at}
        response = admin_client.get("/admin/route-tester/", query)
        assert response.status_code == 200
        return response

    for at in ("0001-01-01 00:00", "0001-01-01 23:59", "9999-12-31 23:59", "1899-12-31 23:59"):
        for to_uri in ("sip:0612345678@x", "sip:+12125550100@x"):
            response = tester(at, to_uri)
            errors = response.context["form"].errors
            assert list(errors) == ["at"], (at, errors)
            assert "between 1900 and 2999" in errors["at"][0]
            assert response.context["result"] is None
        with pytest.raises(CommandError, match=r"^at: .*between 1900 and 2999"):
            call_command(
                "route", "--source-ip", "10.10.0.10", "--to", "sip:0612345678@x",
                "--at", at.replace(" ", "T") + "+00:00",
            )  # fmt: skip
    # The ends of the range are routed.
    for at in ("1900-01-01 00:00", "2999-12-31 23:59"):
        response = tester(at, "sip:+12125550100@x")
        assert response.context["form"].errors == {}
        assert "Answer: " in response.content.decode()


# --- 19. X-Forwarded-For --------------------------------------------------------------------------

GUNICORN_CONF = REPO / "c4router" / "gunicorn_conf.py"
FORGED = "198.51.100.77"  # the address a client on the loopback claims to be forwarding for


def forwarded_probe(server: C4RouterServer, forged: str) -> tuple[httpx.Response, httpx.Response]:
    """A routing query and a /metrics read from 127.0.0.1, claiming to come from `forged`."""
    with httpx.Client(base_url=server.url, timeout=10) as http:
        query = http.post(
            URL, content=outbound(), headers={"Content-Type": "application/json",
                                              "X-C4-Token": SHARED_TOKEN,
                                              "X-Forwarded-For": forged},
        )  # fmt: skip
        metrics = http.get("/metrics", headers={"X-Forwarded-For": forged})
    return query, metrics


def only_the_forged_address_allowed(**env: str) -> dict[str, str]:
    """A server whose allow-lists hold the forged address's network, not the loopback."""
    return {
        "C4ROUTER_API_TOKEN": SHARED_TOKEN,
        "C4ROUTER_API_ALLOWED_NETS": "198.51.100.0/24",
        "C4ROUTER_METRICS_ALLOWED_NETS": "198.51.100.0/24",
        **env,
    }


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "server_kind", ["gunicorn", "uvicorn"], ids=["gunicorn_conf", "uvicorn-command-line"]
)
def test_f19_a_forged_x_forwarded_for_does_not_change_the_client_address(tmp_path, server_kind):
    """Real servers, as c4router starts them (gunicorn with c4router/gunicorn_conf.py, as the
    image does; uvicorn with the options bin/quickstart and the tests give it): the routing
    endpoint and the allow-lists see the peer, 127.0.0.1, whatever X-Forwarded-For says."""
    config = GUNICORN_CONF if server_kind == "gunicorn" else None
    env = only_the_forged_address_allowed()
    with C4RouterServer(tmp_path, server=server_kind, config=config, env=env) as server:
        query, metrics = forwarded_probe(server, FORGED)
    assert query.status_code == 403, query.text
    assert query.json() == {"error": "client 127.0.0.1 is not allowed to query routes"}
    assert metrics.status_code == 403
    assert metrics.json() == {"error": "client 127.0.0.1 may not read metrics"}


@pytest.mark.django_db(transaction=True)
def test_f19_x_forwarded_for_is_believed_from_the_configured_proxies(tmp_path):
    """C4ROUTER_TRUSTED_PROXIES: behind a proxy (here on 127.0.0.1), the client is the one
    the proxy names, the last address it appended."""
    env = only_the_forged_address_allowed(C4ROUTER_TRUSTED_PROXIES="127.0.0.1/32,::1")
    with C4RouterServer(tmp_path, server="gunicorn", config=GUNICORN_CONF, env=env) as server:
        query, metrics = forwarded_probe(server, f"203.0.113.9, {FORGED}")
        assert query.status_code == 200, query.text
        assert query.json()["rtjson"]["success"] is False  # routed: an unknown source (403)
        assert metrics.status_code == 200
        query, _ = forwarded_probe(server, f"{FORGED}, 203.0.113.9")
        assert query.json() == {"error": "client 203.0.113.9 is not allowed to query routes"}


def test_f19_every_server_command_line_decides_about_forwarded_headers():
    """Each place that starts a server says whom it believes X-Forwarded-For from: gunicorn
    through c4router/gunicorn_conf.py, uvicorn with --no-proxy-headers, or the configured
    proxies."""
    quickstart = (REPO / "bin" / "quickstart").read_text()
    assert '--forwarded-allow-ips "$C4ROUTER_TRUSTED_PROXIES"' in quickstart
    assert "--no-proxy-headers" in quickstart
    from tests.live import C4RouterServer as Live

    assert "--no-proxy-headers" in Live(REPO, port=1).command()
    assert "--forwarded-allow-ips=" in Live(REPO, port=1, server="gunicorn").command()
    trusted = Live(REPO, port=1, env={"C4ROUTER_TRUSTED_PROXIES": "10.0.0.1"}).command()
    assert trusted[trusted.index("--forwarded-allow-ips") + 1] == "10.0.0.1"
    bench = (REPO / "bench" / "procs.py").read_text()
    assert "--no-proxy-headers" in bench and "GUNICORN_CONF" in bench
    dockerfile = (REPO / "Dockerfile").read_text()
    assert '"--config", "c4router/gunicorn_conf.py"' in dockerfile


# --- 15. failed logins ----------------------------------------------------------------------------

ATTACKER, OFFICE = "198.51.100.9", "203.0.113.20"
PASSWORD = "secret-pass"  # the admin_user fixture's
LIMIT, COOL_OFF = 5, timedelta(minutes=15)  # the defaults (C4ROUTER_LOGIN_*)


def admin_login(client, password: str, ip: str):  # type: ignore[no-untyped-def]
    client.logout()
    return client.post(
        "/admin/login/?next=/admin/", {"username": "admin", "password": password}, REMOTE_ADDR=ip
    )


def token_login(client, password: str, ip: str):  # type: ignore[no-untyped-def]
    return client.post(
        "/api/v1/auth/token/", {"username": "admin", "password": password}, REMOTE_ADDR=ip
    )


def cool_off_passes() -> None:
    """As if the cool-off had run out (the database's attempt times moved back)."""
    from axes.models import AccessAttempt

    assert (settings.AXES_FAILURE_LIMIT, settings.AXES_COOLOFF_TIME) == (LIMIT, COOL_OFF)
    past = timezone.now() - COOL_OFF - timedelta(seconds=1)
    assert AccessAttempt.objects.update(attempt_time=past) > 0


def test_f15_failed_admin_logins_lock_that_user_out_from_that_address(client, admin_user):
    for _ in range(LIMIT - 1):
        response = admin_login(client, "guess", ATTACKER)
        assert response.status_code == 200 and "Please enter the correct" in response.text
    locked = admin_login(client, "guess", ATTACKER)  # the limit: locked out from now on
    assert locked.status_code == 429
    assert "Too many failed logins" in locked.text and "15 minutes" in locked.text
    # Even the right password: refused, and no session.
    response = admin_login(client, PASSWORD, ATTACKER)
    assert response.status_code == 429 and "_auth_user_id" not in client.session
    # The same user from another address is not locked out (nobody can lock the admin out
    # of every address by failing on purpose).
    response = admin_login(client, PASSWORD, OFFICE)
    assert response.status_code == 302 and response["Location"] == "/admin/"
    # After the cool-off, the right password works again from the first address.
    cool_off_passes()
    response = admin_login(client, PASSWORD, ATTACKER)
    assert response.status_code == 302 and response["Location"] == "/admin/"


def test_f15_failed_token_requests_lock_that_user_out_from_that_address(client, admin_user):
    for _ in range(LIMIT - 1):
        response = token_login(client, "guess", ATTACKER)
        assert response.status_code == 400  # DRF's "Unable to log in with provided credentials."
    locked = token_login(client, "guess", ATTACKER)
    assert locked.status_code == 429
    assert "Too many failed logins" in locked.json()["detail"]
    assert locked["Retry-After"] == str(15 * 60)
    response = token_login(client, PASSWORD, ATTACKER)
    assert response.status_code == 429 and "token" not in response.json()
    # The admin login page and the token endpoint count together.
    assert admin_login(client, PASSWORD, ATTACKER).status_code == 429
    assert "token" in token_login(client, PASSWORD, OFFICE).json()
    cool_off_passes()
    assert "token" in token_login(client, PASSWORD, ATTACKER).json()
