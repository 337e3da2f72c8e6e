"""Every answer the engine writes is one the contract allows (and rtjson 5.6 reads)."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest
from jsonschema import Draft202012Validator

from routing.engine.numbers import NumberPlan
from routing.engine.rtjson import answer_bytes
from routing.engine.table import CarrierRow

from .builders import CARRIER_IP, prefix_rule, route, rule, table, to_carrier, to_gw

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
    assert document == {"rtjson": {"success": False, "code": code, "reason": reason}}


def test_inbound_answer_matches_the_contract():
    decision = route(table(), source_ip=CARRIER_IP, to_uri="sip:callee@domain.com")
    assert_valid(orjson.loads(answer_bytes(decision)))
