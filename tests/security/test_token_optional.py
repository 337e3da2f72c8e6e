"""Issue 11 item 20: C4ROUTER_API_TOKEN_REQUIRED.

The seed's published Kamailio config sends no X-C4-Token: with the token required (the
default, kept) every call it relays got 403 from c4router, and the caller a 500. The
setting at 0 lets a client inside C4ROUTER_API_ALLOWED_NETS ask without a token; a token
that is sent must still be valid, and the client's network still counts. `check --deploy`
flags the setting off. tests/e2e/test_seed_config.py runs the seed's own config with it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from tests.routing.conftest import TOKEN, live_table, reload_table, routing_data  # noqa: F401
from tests.routing.test_endpoint import SEED_QUERY, outbound, post
from tests.test_settings import PRODUCTION, import_settings, run

pytestmark = pytest.mark.django_db


@pytest.fixture
def token_optional(settings):  # type: ignore[no-untyped-def]
    settings.C4ROUTER = {**settings.C4ROUTER, "API_TOKEN_REQUIRED": False}


def routed(response) -> bool:  # type: ignore[no-untyped-def]
    return response.status_code == 200 and response.json()["rtjson"]["success"] is True


def test_f20_the_token_is_required_by_default(client, live_table, settings):  # noqa: F811
    assert settings.C4ROUTER["API_TOKEN_REQUIRED"] is True
    response = post(client, outbound(), token="")
    assert response.status_code == 403
    assert response.json() == {"error": "missing or unknown X-C4-Token header"}


def test_f20_not_required_a_query_without_a_token_is_answered(
    client,
    live_table,  # noqa: F811
    token_optional,
):
    assert routed(post(client, outbound(), token=""))
    assert routed(post(client, SEED_QUERY, token=""))


def test_f20_not_required_the_lean_asgi_path_answers_alike(client, live_table, token_optional):  # noqa: F811
    from c4router.asgi import application

    async def ask() -> httpx.Response:
        transport = httpx.ASGITransport(app=application, client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://c4router") as http:
            return await http.post(
                "/kamailio/rtjson", content=outbound(),
                headers={"Content-Type": "application/json"},
            )  # fmt: skip

    response = asyncio.run(ask())
    assert response.status_code == 200
    assert response.content == post(client, outbound(), token="").content


def test_f20_not_required_a_wrong_token_is_still_refused(client, live_table, token_optional):  # noqa: F811
    response = post(client, outbound(), token="wrong-token-xxxxxxxxxx")
    assert response.status_code == 403
    assert routed(post(client, outbound(), token=TOKEN))


def test_f20_not_required_a_disabled_instances_token_is_still_refused(
    client,
    routing_data,  # noqa: F811
    live_table,  # noqa: F811
    token_optional,
):
    routing_data.instance.enabled = False
    routing_data.instance.save()
    reload_table()
    assert post(client, outbound(), token=TOKEN).status_code == 403


def test_f20_not_required_a_client_outside_the_allowed_networks_is_still_refused(
    client,
    live_table,  # noqa: F811
    token_optional,
):
    response = post(client, outbound(), token="", REMOTE_ADDR="192.0.2.1")
    assert response.status_code == 403
    assert "is not allowed" in response.json()["error"]


# --- the setting itself, read from the environment by a fresh interpreter ---------------------

PRINT = "import c4router.settings as s; print(s.C4ROUTER['API_TOKEN_REQUIRED'])"


@pytest.mark.parametrize(
    ("value", "required"),
    [(None, "True"), ("1", "True"), ("", "True"), ("  ", "True"), ("0", "False"), ("off", "False")],
)
def test_f20_the_setting_defaults_to_required(tmp_path: Path, value, required) -> None:
    env = {**PRODUCTION, **({} if value is None else {"C4ROUTER_API_TOKEN_REQUIRED": value})}
    result = run(["-c", PRINT], tmp_path, **env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == required


def test_f20_a_malformed_value_stops_the_start(tmp_path: Path) -> None:
    result = import_settings(tmp_path, **PRODUCTION, C4ROUTER_API_TOKEN_REQUIRED="maybe")
    assert result.returncode != 0
    assert "C4ROUTER_API_TOKEN_REQUIRED='maybe' is not a boolean" in result.stderr


def test_f20_check_deploy_flags_the_token_not_required(tmp_path: Path) -> None:
    env = {**PRODUCTION, "C4ROUTER_API_ALLOWED_NETS": "127.0.0.0/8,10.0.0.0/24"}
    off = run(["manage.py", "check", "--deploy"], tmp_path, C4ROUTER_API_TOKEN_REQUIRED="0", **env)
    assert off.returncode == 0, off.stderr  # a warning, the operator's choice
    assert "(c4router.W006) C4ROUTER_API_TOKEN_REQUIRED is off" in off.stderr
    assert "(127.0.0.0/8, 10.0.0.0/24)" in off.stderr
    on = run(["manage.py", "check", "--deploy"], tmp_path, **env)
    assert on.returncode == 0, on.stderr
    assert "c4router.W006" not in on.stdout + on.stderr
