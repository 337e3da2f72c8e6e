"""The admin's call records: read-only list, filters, number prefix, CSV export."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest

from routing.cdr import partitions
from routing.models import CallRecord, Carrier, Gateway, Tenant

pytestmark = pytest.mark.django_db

NOW = datetime.now(UTC).replace(microsecond=0)
LIST = "/admin/routing/callrecord/"


@pytest.fixture
def records():
    partitions.forget_known()
    partitions.ensure_for([NOW - timedelta(days=days) for days in range(3)])
    tenant = Tenant.objects.create(name="Acme")
    alpha = Carrier.objects.create(name="Alpha")
    gateway = Gateway.objects.create(carrier=alpha, name="alpha-1", host="192.0.2.1")
    made = [
        CallRecord.objects.create(
            kind="attempt", call_id="a", attempt=1, start_time=NOW - timedelta(minutes=30),
            tenant_id=tenant.pk, carrier_id=alpha.pk, gateway_id=gateway.pk, sip_code=503,
            sip_reason="Service Unavailable", callee="33612345678",
        ),
        CallRecord.objects.create(
            kind="call", call_id="b", start_time=NOW - timedelta(days=1, hours=1),
            tenant_id=tenant.pk, sip_code=404, callee="4930123456", caller_in="=HYPERLINK(1)",
        ),
        # A least-cost call to a ported number, answered: priced, with its LRN.
        CallRecord.objects.create(
            kind="call", call_id="c", start_time=NOW - timedelta(minutes=20),
            tenant_id=tenant.pk, carrier_id=alpha.pk, sip_code=200, callee="12025550123",
            lrn="13125550000", duration_ms=61000, currency="EUR", rate=D("0.0125"),
            sell_rate=D("0.02"), billed_seconds=66, cost=D("0.06375"), revenue=D("0.04"),
            margin=D("-0.02375"),
        ),
    ]  # fmt: skip
    yield made
    partitions.forget_known()


def test_the_list_names_tenants_carriers_and_gateways(admin_client, records):
    response = admin_client.get(LIST)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Alpha" in page and "alpha-1" in page and "Acme" in page
    assert "Service Unavailable" in page
    assert "Add call record" not in page


@pytest.mark.parametrize(
    ("query", "shown", "hidden"),
    [
        ("started=1h", "33612345678", "4930123456"),
        ("code=5xx", "33612345678", "4930123456"),
        ("code=404", "4930123456", "33612345678"),
        ("q=4930", "4930123456", "33612345678"),
        ("kind__exact=call", "4930123456", "33612345678"),
    ],
)
def test_filters(admin_client, records, query, shown, hidden):
    page = admin_client.get(f"{LIST}?{query}").content.decode()
    assert shown in page and hidden not in page


def test_carrier_filter(admin_client, records):
    alpha = Carrier.objects.get(name="Alpha")
    page = admin_client.get(f"{LIST}?carrier={alpha.pk}").content.decode()
    assert "33612345678" in page and "4930123456" not in page


def test_records_cannot_be_changed(admin_client, records):
    record = records[0]
    assert admin_client.get(f"{LIST}add/").status_code == 403
    response = admin_client.post(f"{LIST}{record.pk}/change/", {"sip_code": 200})
    assert response.status_code == 403
    record.refresh_from_db()
    assert record.sip_code == 503


def test_csv_export_of_the_filtered_list(admin_client, records):
    response = admin_client.get(f"{LIST}export/?code=404")
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "text/csv"
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(r["call_id"], r["sip_code"], r["callee"]) for r in rows] == [
        ("b", "404", "4930123456")
    ]
    # A cell a spreadsheet would run as a formula is quoted.
    assert rows[0]["caller_in"] == "'=HYPERLINK(1)"


def test_the_list_links_to_its_export(admin_client, records):
    page = admin_client.get(f"{LIST}?code=404").content.decode()
    assert f'href="{LIST}export/?code=404"' in page


def test_a_priced_ported_call_shows_its_money_and_its_lrn(admin_client, records):
    page = admin_client.get(f"{LIST}?q=1202").content.decode()
    for shown in ("12025550123", "13125550000", "0.063750", "0.040000", "-0.023750", "EUR"):
        assert shown in page
    detail = admin_client.get(f"{LIST}{records[2].pk}/change/").content.decode().lower()
    for shown in ("lrn", "13125550000", "customer rate (per minute)", "0.020000", "66"):
        assert shown in detail


def test_the_csv_export_has_the_money_as_numbers(admin_client, records):
    response = admin_client.get(f"{LIST}export/?q=1202")
    (row,) = csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode()))
    assert (row["callee"], row["lrn"], row["currency"]) == ("12025550123", "13125550000", "EUR")
    assert (row["cost"], row["revenue"], row["margin"]) == ("0.063750", "0.040000", "-0.023750")
    assert (row["rate"], row["sell_rate"], row["billed_seconds"]) == ("0.012500", "0.020000", "66")
