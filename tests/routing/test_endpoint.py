"""POST /kamailio/rtjson on a real database: the contract, safety, and no query per call."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import orjson
import pytest
from jsonschema import Draft202012Validator

from routing.loader import holder

from .conftest import TOKEN, reload_table

DATA = Path(__file__).parent.parent / "data"
ANSWER = Draft202012Validator(json.loads((DATA / "rtjson-answer.schema.json").read_text()))
SEED_QUERY = (DATA / "seed-example-query.json").read_bytes()
URL = "/kamailio/rtjson"


def post(client, body: bytes, *, token: str = TOKEN, content_type="application/json", **extra):
    headers = {"HTTP_X_C4_TOKEN": token} if token else {}
    return client.post(URL, data=body, content_type=content_type, **headers, **extra)


def outbound(**fields) -> bytes:
    body = {
        "event": "sip-routing", "source_ip": "10.10.0.10", "source_port": "5060", "auth": 0,
        "call_id": "c1@test", "from_name": "Caller", "from_uri": "sip:0123456789@10.10.0.10",
        "from_tag": "1", "to_name": "Callee", "to_uri": "sip:0612345678@c4router.example",
        "to_tag": "<null>",
    }  # fmt: skip
    body.update(fields)
    return orjson.dumps(body)


def test_seed_example_query_is_answered_with_a_valid_rtjson(client, live_table):
    response = post(client, SEED_QUERY)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    document = response.json()
    assert not list(ANSWER.iter_errors(document))
    (route,) = document["rtjson"]["routes"]
    assert route["uri"] == "sip:callee@10.10.0.10:5060"  # domain.com -> Acme's PBX
    # Displays as RFC 3261 quoted-strings: uac writes them into the header as given.
    assert route["headers"]["from"] == {"display": '"Caller"', "uri": "sip:caller@domain.com"}
    assert route["headers"]["to"] == {"display": '"Callee"', "uri": "sip:callee@domain.com"}


def test_outbound_call_gets_ordered_translated_routes(client, live_table):
    document = post(client, outbound()).json()
    assert not list(ANSWER.iter_errors(document))
    uris = [r["uri"] for r in document["rtjson"]["routes"]]
    assert uris == ["sip:33612345678@203.0.113.10:5060", "sip:33612345678@192.0.2.20:5080"]
    assert document["rtjson"]["routes"][0]["headers"]["extra"] == "X-Trunk: alpha\r\n"


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"source_ip": "192.0.2.99"}, 403),
        ({"to_uri": "sip:+4420@x"}, 404),
        ({"to_uri": "sip:x@y"}, 484),
    ],
)
def test_no_route_is_200_with_success_false_and_a_sip_code(client, live_table, fields, code):
    response = post(client, outbound(**fields))
    assert response.status_code == 200
    assert response.json()["rtjson"]["success"] is False
    assert response.json()["rtjson"]["code"] == code
    assert not list(ANSWER.iter_errors(response.json()))


def test_zero_database_queries_per_routing_request(client, live_table, django_assert_num_queries):
    post(client, outbound())  # warm: nothing lazy left
    with django_assert_num_queries(0):
        # The table is in memory; the token is checked against it; no session, no user.
        for body in (SEED_QUERY, outbound(), outbound(to_uri="sip:+4420@x"), b"{bad"):
            post(client, body)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{not json", "body"),
        (b"[]", "body"),
        (outbound(source_ip=12), "source_ip"),
        (outbound(source_port="x"), "source_port"),
        (outbound(to_uri=None), "to_uri"),
        (outbound(to_uri="sip:a\r\nVia: evil@x"), "to_uri"),
        (outbound(from_uri="sip:\x00@x"), "from_uri"),
        (outbound(from_name="x" * 100_000), "body"),
        (outbound(call_id={"a": 1}), "call_id"),
    ],
)
def test_malformed_and_hostile_bodies_get_400_naming_the_problem(client, live_table, body, field):
    response = post(client, body)
    assert response.status_code == 400
    assert response.json()["error"].startswith(f"{field}:")


def test_wrong_content_type_is_415(client, live_table):
    response = post(client, outbound(), content_type="text/plain")
    assert response.status_code == 415
    assert "application/json" in response.json()["error"]


def test_only_kamailio_may_ask(client, live_table, settings):
    assert post(client, outbound(), token="").status_code == 403
    assert post(client, outbound(), token="wrong-token-xxxxxxxxxx").status_code == 403
    assert post(client, outbound(), REMOTE_ADDR="192.0.2.1").status_code == 403
    settings.C4ROUTER = {**settings.C4ROUTER, "API_TOKEN": "env-token-for-all-instances"}
    assert post(client, outbound(), token="env-token-for-all-instances").status_code == 200


def test_disabled_router_instance_token_is_refused(client, routing_data, live_table):
    routing_data.instance.enabled = False
    routing_data.instance.save()
    reload_table()
    assert post(client, outbound()).status_code == 403


def test_no_table_yet_is_503_not_a_wrong_answer(client, live_table, monkeypatch):
    monkeypatch.setattr(holder, "table", None)
    monkeypatch.setattr(holder, "ensure_loaded", lambda: None)  # as if the database were down
    response = post(client, outbound())
    assert response.status_code == 503


def test_get_is_not_allowed(client, live_table):
    assert client.get(URL).status_code == 405


# --- the lean ASGI path answers exactly like the DRF view --------------------------------------


def _asgi_post(bodies: list[bytes], token: str = TOKEN) -> list[tuple[int, bytes]]:
    from c4router.asgi import application

    async def run() -> list[tuple[int, bytes]]:
        transport = httpx.ASGITransport(app=application, client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://c4router") as http:
            results = []
            for body in bodies:
                response = await http.post(
                    URL,
                    content=body,
                    headers={"Content-Type": "application/json", "X-C4-Token": token},
                )
                results.append((response.status_code, response.content))
            return results

    return asyncio.run(run())


def test_lean_asgi_and_drf_view_give_identical_answers(client, live_table):
    bodies = [
        SEED_QUERY,
        outbound(),
        outbound(to_uri="sip:+4420@x"),
        outbound(source_ip="192.0.2.99"),
        outbound(to_uri="sip:bob@x"),
        b"{bad json",
        outbound(source_port=True),
        SEED_QUERY.replace(b"198.51.100.10", b"198.51.100.11"),
    ]
    via_drf = [(r.status_code, r.content) for r in (post(client, body) for body in bodies)]
    assert _asgi_post(bodies) == via_drf
    # (Django's test client drops the Content-Type of an empty body: ASGI only.)
    assert _asgi_post([b""])[0][0] == 400
    assert _asgi_post([SEED_QUERY], token="nope") == [
        (403, post(client, SEED_QUERY, token="nope").content)
    ]


def test_oversized_body_is_refused_by_size_through_the_lean_path(live_table):
    ((status, body),) = _asgi_post([b'{"a": "' + b"x" * 200_000 + b'"}'])
    assert status == 400
    assert orjson.loads(body)["error"] == "body: larger than 16384 bytes"
