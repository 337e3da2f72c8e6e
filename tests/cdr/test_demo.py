"""seed_demo --traffic: a day of labelled synthetic records and their rollups, once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from routing.cdr import rollups
from routing.cdr.pricing import Terms, charge
from routing.models import CallRecord, Carrier, Rate, RateDeck, RouteRule, Tenant

pytestmark = pytest.mark.django_db


def test_a_day_of_demo_traffic_on_the_demo_routes():
    out = StringIO()
    call_command("seed_demo", "--traffic", "--calls-per-hour", "60", stdout=out)
    assert "synthetic call records written" in out.getvalue()
    assert CallRecord.objects.exists()
    assert not CallRecord.objects.exclude(call_id__startswith="demo-").exists()
    assert set(CallRecord.objects.values_list("rule_id", flat=True)) <= set(
        RouteRule.objects.values_list("pk", flat=True)
    )
    now = datetime.now(UTC)
    day = rollups.totals(now - timedelta(days=1, minutes=5), now)
    calls = CallRecord.objects.filter(kind="call").count()
    assert day.calls == calls and day.attempts == CallRecord.objects.count() - calls
    assert 0 < day.asr < 1 and day.acd_seconds and day.pdd_p95_ms
    per_carrier = rollups.carrier_stats(now - timedelta(days=1, minutes=5), now)
    assert set(per_carrier) <= set(Carrier.objects.values_list("pk", flat=True))
    assert len(per_carrier) >= 2


def test_running_it_again_adds_nothing_twice():
    call_command("seed_demo", "--traffic", "--calls-per-hour", "30", stdout=StringIO())
    before = CallRecord.objects.count()
    attempts = rollups.totals(datetime(2000, 1, 1, tzinfo=UTC), datetime.now(UTC)).attempts
    call_command("seed_demo", "--traffic", "--calls-per-hour", "30", stdout=StringIO())
    assert CallRecord.objects.count() == before
    assert rollups.totals(datetime(2000, 1, 1, tzinfo=UTC), datetime.now(UTC)).attempts == attempts


def test_demo_calls_through_a_carrier_with_a_deck_are_priced():
    from routing.demo import seed_demo

    seed_demo()
    acme = Tenant.objects.get(name="Acme Corp")
    sell = RateDeck.objects.create(name="Acme sell", tenant=acme, currency="EUR")
    Rate.objects.create(
        deck=sell, prefix="", rate=Decimal("0.03"), initial_increment=60, next_increment=60,
        effective_from=datetime(2020, 1, 1, tzinfo=UTC),
    )  # fmt: skip
    call_command("seed_demo", "--traffic", "--calls-per-hour", "120", stdout=StringIO())
    alpha = Carrier.objects.get(name="Alpha Telecom")
    priced = CallRecord.objects.filter(kind="call", cost__isnull=False)
    assert priced.exists()
    assert set(priced.values_list("carrier_id", "currency").distinct()) == {(alpha.pk, "EUR")}
    for record in priced.filter(tenant_id=acme.pk)[:20]:
        _billed, revenue = charge(Terms(Decimal("0.03"), initial=60, next=60), record.duration_ms)
        assert (record.revenue, record.margin) == (revenue, revenue - record.cost)
    now = datetime.now(UTC)
    (money,) = rollups.money_totals(now - timedelta(days=1, minutes=5), now)
    assert money.priced == priced.count() and money.sold == priced.filter(tenant_id=acme.pk).count()
