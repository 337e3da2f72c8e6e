"""Capacity limits in the answer: which counters the call and each route use.

Kamailio counts them (kamailio.cfg, "capacity"); the engine only says which apply: a call
from a PBX counts against its tenant and PBX, each route against its carrier and gateway;
a call from a carrier against that carrier, its route to the PBX against the tenant and PBX.
"""

from __future__ import annotations

import orjson

from routing.engine.rtjson import answer_bytes
from routing.engine.table import CarrierRow, GatewayRow, PbxRow, SourceRow, TenantRow

from .builders import CARRIER_IP, FRENCH_NATIONAL, PBX_IP, did, route, rule, table, to_gw
from .test_rtjson import assert_valid

LIMITED = {
    "tenants": (TenantRow(1, "Acme", max_calls=20), TenantRow(2, "Globex")),
    "pbxs": (
        PbxRow(1, 1, "hq", PBX_IP, inbound=FRENCH_NATIONAL, max_cps=10),
        PbxRow(2, 2, "globex-pbx", "10.20.0.5"),
    ),
    "carriers": (CarrierRow(1, "Alpha", max_calls=100, max_cps=30), CarrierRow(2, "Beta")),
    "gateways": (
        GatewayRow(1, 1, "alpha-1", "203.0.113.10", max_calls=0),
        GatewayRow(2, 1, "alpha-2", "203.0.113.11"),
        GatewayRow(3, 2, "beta-1", "192.0.2.20", max_cps=5),
    ),
}


def answer(tbl, **query) -> dict:
    document = orjson.loads(answer_bytes(route(tbl, **query)))
    assert_valid(document)  # the extra keys stay inside the contract
    return document["rtjson"]


def test_an_outbound_call_counts_against_its_tenant_and_pbx_each_route_its_carrier_and_gateway():
    tbl = table(**LIMITED, rules=(rule(7, "33", to_gw(3), to_gw(1, order=1), to_gw(2, order=2)),))
    rtjson = answer(tbl)
    assert rtjson["limits"] == "t1:20:- p1:-:10"
    assert [r.get("limits") for r in rtjson["routes"]] == [
        "g3:-:5",  # Beta has no limit, its gateway beta-1 has
        "c1:100:30 g1:0:-",  # 0: no calls at all through alpha-1
        "c1:100:30",
    ]


def test_an_inbound_call_counts_against_the_carrier_and_its_route_against_tenant_and_pbx():
    tbl = table(**LIMITED, dids=(did(1, "33987654321", pbx_id=1, tenant_id=1),))
    rtjson = answer(tbl, source_ip=CARRIER_IP, to_uri="sip:+33987654321@c4.example")
    assert rtjson["limits"] == "c1:100:30"
    (only,) = rtjson["routes"]
    assert only["limits"] == "t1:20:- p1:-:10"


def test_without_limits_the_answer_has_no_limit_keys():
    rtjson = answer(table(rules=(rule(7, "33", to_gw(3)),)))
    assert "limits" not in rtjson
    assert "limits" not in rtjson["routes"][0]


def test_a_refusal_has_no_limits():
    rtjson = answer(table(**LIMITED), to_uri="sip:0612345678@c4router.example")
    assert rtjson["success"] is False
    assert "limits" not in rtjson


def test_an_ip_source_counts_as_the_call_comes_in_before_its_owners_limits():
    # One trunk of a carrier (one of its networks) limited on its own.
    sources = (
        SourceRow("10.10.0.0/24", pbx_id=1),
        SourceRow("10.20.0.5/32", pbx_id=2),
        SourceRow("198.51.100.0/28", carrier_id=1, id=9, max_calls=4),
    )
    tbl = table(**LIMITED, sources=sources, dids=(did(1, "33987654321"),))
    rtjson = answer(tbl, source_ip=CARRIER_IP, to_uri="sip:+33987654321@c4.example")
    assert rtjson["limits"] == "s9:4:- c1:100:30"
    outbound = answer(table(sources=sources, rules=(rule(7, "33", to_gw(3)),)))
    assert "limits" not in outbound  # the PBX's network has no limit
