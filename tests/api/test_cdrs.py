"""/api/v1/cdrs/: the call records, read-only, filtered, paged by time, in the schema."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from rest_framework.test import APIClient

from routing.cdr import partitions
from routing.models import CallRecord

pytestmark = pytest.mark.django_db

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def records() -> list[CallRecord]:
    partitions.forget_known()
    partitions.ensure_for([NOW - timedelta(days=days) for days in range(3)])
    made = [
        CallRecord(kind="attempt", call_id="a", attempt=1, start_time=NOW - timedelta(hours=1),
                   tenant_id=1, carrier_id=10, gateway_id=20, rule_id=7, sip_code=503,
                   callee="33612345678"),
        CallRecord(kind="attempt", call_id="a", attempt=2, start_time=NOW - timedelta(hours=1),
                   tenant_id=1, carrier_id=11, gateway_id=21, rule_id=7, sip_code=200,
                   callee="33612345678"),
        CallRecord(kind="call", call_id="a", start_time=NOW - timedelta(hours=1), tenant_id=1,
                   carrier_id=11, gateway_id=21, sip_code=200, callee="33612345678",
                   duration_ms=60000, hangup="caller"),
        CallRecord(kind="call", call_id="b", start_time=NOW - timedelta(days=1, hours=1),
                   tenant_id=2, sip_code=404, callee="4930123456"),
    ]  # fmt: skip
    for record in made:
        record.save()
    yield made
    partitions.forget_known()


def ids(response) -> list[tuple[str, str, int]]:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.content
    return [(r["call_id"], r["kind"], r["attempt"]) for r in response.json()["results"]]


def test_newest_first(api_client: APIClient, records):
    response = api_client.get("/api/v1/cdrs/")
    assert ids(response)[-1] == ("b", "call", 0)
    assert "count" not in response.json()  # no COUNT(*) over millions of rows
    first = response.json()["results"][0]
    assert first["start_time"] and first["callee"] == "33612345678"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("carrier=10", [("a", "attempt", 1)]),
        ("gateway=21&kind=attempt", [("a", "attempt", 2)]),
        ("sip_code=404", [("b", "call", 0)]),
        ("tenant=2", [("b", "call", 0)]),
        ("prefix=49", [("b", "call", 0)]),
        ("kind=call&prefix=33", [("a", "call", 0)]),
        ("call_id=b", [("b", "call", 0)]),
        ("hangup=caller", [("a", "call", 0)]),
    ],
)
def test_filters(api_client: APIClient, records, query, expected):
    assert ids(api_client.get(f"/api/v1/cdrs/?{query}")) == expected


def test_time_range(api_client: APIClient, records):
    since = (NOW - timedelta(hours=2)).isoformat().replace("+00:00", "Z")
    assert {i[0] for i in ids(api_client.get(f"/api/v1/cdrs/?start_after={since}"))} == {"a"}
    assert ids(api_client.get(f"/api/v1/cdrs/?start_before={since}")) == [("b", "call", 0)]
    bad = api_client.get("/api/v1/cdrs/?start_after=yesterday")
    assert bad.status_code == 400 and "start_after" in bad.json()


def test_pages_follow_time(api_client: APIClient, records):
    first = api_client.get("/api/v1/cdrs/?limit=3").json()
    assert len(first["results"]) == 3 and first["next"]
    second = api_client.get(first["next"]).json()
    assert [r["call_id"] for r in second["results"]] == ["b"]


def test_one_record(api_client: APIClient, records):
    record = records[3]
    response = api_client.get(f"/api/v1/cdrs/{record.pk}/")
    assert response.status_code == 200 and response.json()["sip_reason"] == ""


def test_read_only(api_client: APIClient, records):
    assert api_client.post("/api/v1/cdrs/", {"kind": "call"}).status_code == 405
    assert api_client.delete(f"/api/v1/cdrs/{records[0].pk}/").status_code == 405


def test_needs_the_view_permission(readonly_client: APIClient, anon_client: APIClient, records):
    assert anon_client.get("/api/v1/cdrs/").status_code in (401, 403)
    assert readonly_client.get("/api/v1/cdrs/").status_code == 403  # routing models only


def test_in_the_openapi_schema(api_client: APIClient):
    schema = api_client.get("/api/schema/?format=json").json()
    operation = schema["paths"]["/api/v1/cdrs/"]["get"]
    names = {p["name"] for p in operation["parameters"]}
    assert {"start_after", "start_before", "carrier", "gateway", "tenant", "sip_code",
            "prefix", "cursor"} <= names  # fmt: skip
    assert "post" not in schema["paths"]["/api/v1/cdrs/"]


def test_a_priced_ported_call_has_its_money_and_its_lrn(api_client: APIClient, records):
    CallRecord.objects.filter(call_id="a", kind="call").update(
        lrn="13125550000", currency="EUR", rate=D("0.0125"), sell_rate=D("0.02"),
        billed_seconds=66, cost=D("0.06375"), revenue=D("0.04"), margin=D("-0.02375"),
    )  # fmt: skip
    response = api_client.get("/api/v1/cdrs/?call_id=a&kind=call")
    (record,) = response.json()["results"]
    assert {k: record[k] for k in ("lrn", "currency", "rate", "sell_rate", "billed_seconds")} == {
        "lrn": "13125550000", "currency": "EUR", "rate": "0.012500", "sell_rate": "0.020000",
        "billed_seconds": 66,
    }  # fmt: skip
    assert (record["cost"], record["revenue"], record["margin"]) == (
        "0.063750", "0.040000", "-0.023750",
    )  # fmt: skip
