"""Every answer the engine writes is one the contract allows (and rtjson 5.6 reads)."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest
from jsonschema import Draft202012Validator

from routing.engine.numbers import NumberPlan
from routing.engine.rtjson import answer_bytes
from routing.engine.table import CarrierRow, GatewayRow

from .builders import CARRIER_IP, did, prefix_rule, route, rule, table, to_carrier, to_gw

DATA = Path(__file__).parent.parent / "data"
ANSWER = Draft202012Validator(json.loads((DATA / "rtjson-answer.schema.json").read_text()))


def assert_valid(document: dict) -> None:
    errors = sorted(ANSWER.iter_errors(document), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_routed_answer_matches_the_contract_and_carries_both_keys_of_from_and_to():
    alpha = CarrierRow(1, "Alpha", send_pai=True, extra_headers=(("X-Trunk", "7"),),
                       outbound=NumberPlan.from_rules([prefix_rule("", 0, "+")]))  # fmt: skip
    tbl = table(
        carriers=(alpha, CarrierRow(2, "Beta")), rules=(rule(1, "33", to_carrier(1), to_gw(3, 1)),)
    )
    document = orjson.loads(answer_bytes(route(tbl, from_name="Evil\r\nX: y")))
    assert_valid(document)
    rtjson = document["rtjson"]
    assert (rtjson["success"], rtjson["version"], rtjson["routing"]) == (True, "1.0", "serial")
    for r in rtjson["routes"]:
        assert set(r["headers"]["from"]) == {"display", "uri"}
        assert set(r["headers"]["to"]) == {"display", "uri"}
    assert len(rtjson["routes"]) == 3


@pytest.mark.parametrize(
    ("fields", "code", "reason"),
    [
        ({"source_ip": "192.0.2.250"}, 403, "Forbidden"),
        ({"to_uri": "sip:+4420@x"}, 404, "No Route"),
        ({"to_uri": "sip:bob@x"}, 484, "Address Incomplete"),
    ],
)
def test_refusals_match_the_contract(fields, code, reason):
    document = orjson.loads(answer_bytes(route(table(rules=(rule(1, "33", to_gw(1)),)), **fields)))
    assert_valid(document)
    ids = document["rtjson"].pop("c4")
    assert document == {"rtjson": {"success": False, "code": code, "reason": reason}}
    # What is known of the refused call, for its record: its source PBX (a 403 has none).
    if code == 403:
        assert ids == {"dir": None, "tenant": None, "pbx": None, "carrier": None,
                       "rule": None, "callee": None, "caller": None}  # fmt: skip
    else:
        assert (ids["dir"], ids["tenant"], ids["pbx"], ids["rule"]) == ("out", 1, 1, None)


def test_a_rule_that_rejects_answers_its_code_and_reason_within_the_contract():
    # A longer prefix blocks premium numbers; the rest of France still routes.
    block = rule(2, "3389", reject_code=403, reject_reason="Premium Numbers Blocked")
    tbl = table(rules=(rule(1, "33", to_gw(1)), block))
    document = orjson.loads(answer_bytes(route(tbl, to_uri="sip:0899123456@x")))
    assert_valid(document)
    ids = document["rtjson"].pop("c4")
    assert document == {
        "rtjson": {"success": False, "code": 403, "reason": "Premium Numbers Blocked"}
    }
    assert (ids["dir"], ids["rule"], ids["callee"]) == ("out", 2, "33899123456")
    routed = orjson.loads(answer_bytes(route(tbl, to_uri="sip:0123456789@x")))
    assert routed["rtjson"]["success"] is True


def test_inbound_answer_matches_the_contract():
    decision = route(table(), source_ip=CARRIER_IP, to_uri="sip:callee@domain.com")
    assert_valid(orjson.loads(answer_bytes(decision)))


# ------------------------------------------------------------------ ids for the call records


def test_each_route_carries_its_ids_and_the_numbers_it_sends():
    # Kamailio reads them back (jansson) for each attempt's record; rtjson ignores them.
    tbl = table(rules=(rule(7, "33", to_gw(3), to_gw(1, order=1)),))
    document = orjson.loads(answer_bytes(route(tbl)))
    assert_valid(document)
    rtjson = document["rtjson"]
    assert [r["c4"] for r in rtjson["routes"]] == [
        {"attempt": 1, "rule": 7, "carrier": 2, "gateway": 3, "pbx": None,
         "to": "33612345678", "from": "33123456789"},
        {"attempt": 2, "rule": 7, "carrier": 1, "gateway": 1, "pbx": None,
         "to": "33612345678", "from": "33123456789"},
    ]  # fmt: skip
    assert rtjson["c4"] == {
        "dir": "out", "tenant": 1, "pbx": 1, "carrier": None, "rule": 7,
        "callee": "33612345678", "caller": "33123456789",
    }  # fmt: skip


def test_the_numbers_sent_are_the_gateways_not_the_e164_ones():
    gateways = (GatewayRow(1, 1, "alpha-1", "203.0.113.10", strip=2, prefix="0"),)
    tbl = table(gateways=gateways, rules=(rule(7, "33", to_gw(1)),))
    (sent,) = orjson.loads(answer_bytes(route(tbl)))["rtjson"]["routes"]
    assert sent["uri"].startswith("sip:0612345678@")
    assert (sent["c4"]["to"], sent["c4"]["gateway"]) == ("0612345678", 1)


def test_an_inbound_call_names_the_carrier_it_came_from_and_the_pbx_it_goes_to():
    tbl = table(dids=(did(1, "33987654321", pbx_id=2, tenant_id=2),))
    document = orjson.loads(
        answer_bytes(route(tbl, source_ip=CARRIER_IP, to_uri="sip:+33987654321@c4.example"))
    )
    assert_valid(document)
    rtjson = document["rtjson"]
    assert (rtjson["c4"]["dir"], rtjson["c4"]["carrier"]) == ("in", 1)
    assert (rtjson["c4"]["tenant"], rtjson["c4"]["pbx"], rtjson["c4"]["rule"]) == (2, 2, None)
    (only,) = rtjson["routes"]
    assert only["c4"] == {"attempt": 1, "rule": None, "carrier": None, "gateway": None,
                          "pbx": 2, "to": "33987654321", "from": "0123456789"}  # fmt: skip
