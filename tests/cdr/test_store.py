"""routing.cdr.store and rollups: records stored once, sums added once, partitions by day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from django.db import connection

from routing.cdr import partitions, rollups
from routing.cdr.records import parse_message
from routing.cdr.store import store_rows
from routing.models import CallRecord, TrafficCodeRollup, TrafficRollup, TrafficRollupHour

from .samples import ROUTE_2, answered_attempt, body, call, failed_attempt

pytestmark = pytest.mark.django_db

NOW = datetime.now(UTC).replace(microsecond=0)
T0 = (NOW - timedelta(hours=1)).timestamp()


def rows(*messages: dict) -> list[dict]:
    return [parse_message(body(message)) for message in messages]


def one_call(call_id: str = "c-1", start: float = T0) -> list[dict]:
    return rows(
        failed_attempt(start, call_id), answered_attempt(start, call_id), call(start, call_id)
    )


def test_a_call_is_stored_as_one_call_and_its_attempts():
    assert store_rows(one_call()) == 3
    stored = CallRecord.objects.order_by("kind", "attempt")
    assert [(r.kind, r.attempt, r.sip_code, r.gateway_id) for r in stored] == [
        ("attempt", 1, 503, 20), ("attempt", 2, 200, 21), ("call", 0, 200, 21)
    ]  # fmt: skip


def test_a_record_delivered_again_is_neither_stored_nor_summed_twice():
    assert store_rows(one_call()) == 3
    # RabbitMQ redelivers what was not acked: the same messages, again, in another batch
    # with a new call.
    assert store_rows(one_call() + one_call("c-2")) == 3
    assert CallRecord.objects.count() == 6
    assert TrafficRollup.objects.aggregate(a=sum_of("attempts"), c=sum_of("calls")) == {
        "a": 4, "c": 2
    }  # fmt: skip


def test_a_batch_holding_the_same_record_twice_stores_it_once():
    assert store_rows(one_call() + one_call()) == 3


def test_rollups_per_bucket_and_carrier():
    store_rows(one_call("c-1") + one_call("c-2"))
    bucket = rollups.bucket_of(datetime.fromtimestamp(T0, UTC))
    alpha = TrafficRollup.objects.get(bucket=bucket, carrier_id=10)
    assert (alpha.attempts, alpha.answered, alpha.failed_5xx, alpha.calls) == (2, 0, 2, 0)
    beta = TrafficRollup.objects.get(bucket=bucket, carrier_id=11)
    assert (beta.attempts, beta.answered, beta.ner_ok, beta.pdd_count) == (2, 2, 2, 2)
    assert (beta.calls, beta.calls_answered, beta.duration_sum_ms) == (2, 2, 2 * 60507)
    assert (beta.tenant_id, beta.gateway_id, beta.rule_id, beta.direction) == (1, 21, 7, "out")
    codes = dict(TrafficCodeRollup.objects.filter(bucket=bucket).values_list("sip_code", "count"))
    assert codes == {503: 2, 200: 2}
    # The same sums per hour.
    hour = TrafficRollupHour.objects.get(bucket=rollups.bucket_of(bucket, 3600), carrier_id=11)
    assert (hour.attempts, hour.answered, hour.calls, hour.duration_sum_ms) == (
        2, 2, 2, 2 * 60507
    )  # fmt: skip


def test_a_range_reads_whole_hours_from_the_hourly_sums_and_its_edges_from_5_minutes():
    start = datetime(2026, 11, 26, 9, 40, tzinfo=UTC)
    end = datetime(2026, 11, 26, 14, 10, tzinfo=UTC)
    assert rollups.parts(start, end) == [
        (False, start, datetime(2026, 11, 26, 10, tzinfo=UTC)),
        (True, datetime(2026, 11, 26, 10, tzinfo=UTC), datetime(2026, 11, 26, 14, tzinfo=UTC)),
        (False, datetime(2026, 11, 26, 14, tzinfo=UTC), end),
    ]
    assert rollups.parts(start, start + timedelta(hours=1)) == [
        (False, start, start + timedelta(hours=1))
    ]
    # Records at both edges and in the middle: the totals see each once.
    times = [start + timedelta(minutes=5), start + timedelta(hours=2), end - timedelta(minutes=5)]
    calls = [row for n, t in enumerate(times) for row in one_call(f"e{n}", t.timestamp())]
    store_rows(calls)
    assert rollups.totals(start, end).attempts == 6
    assert rollups.totals(start, end).calls == 3
    assert sum(s.calls for _, s in rollups.series(start, end, 3600)) == 3
    assert sum(n for _, n in rollups.top_codes(start, end, failures_only=False)) == 6


def test_the_dashboard_figures_per_carrier():
    store_rows(one_call("c-1") + one_call("c-2"))
    start, end = NOW - timedelta(days=1), NOW
    stats = rollups.carrier_stats(start, end)
    assert set(stats) == {10, 11}
    assert (stats[10].asr, stats[10].ner, stats[10].acd_seconds) == (0.0, 0.0, None)
    assert (stats[11].asr, stats[11].ner) == (1.0, 1.0)
    assert stats[11].acd_seconds == pytest.approx(60.507)
    # Both 1 ms, in the 0-100 ms bucket: the median is interpolated to its middle.
    assert stats[11].pdd_p50_ms == pytest.approx(50)
    assert rollups.top_codes(start, end) == [(503, 2)]
    assert rollups.totals(start, end).calls == 2
    assert [tenant for tenant, _ in rollups.top_tenants(start, end)] == [1]
    end = NOW.replace(minute=0, second=0) + timedelta(hours=1)
    steps = rollups.series(end - timedelta(days=1), end, step_seconds=3600)
    assert len(steps) == 24 and sum(s.attempts for _, s in steps) == 4
    assert [s.attempts for _, s in steps][-2:] == [4, 0]  # the hour before this one


def test_percentiles_from_the_histogram():
    histogram = [0] * 12
    histogram[3] = 10  # 300-500 ms
    assert rollups.histogram_percentile(histogram, 0.5) == pytest.approx(400)
    histogram[11] = 10  # above 8 s
    assert rollups.histogram_percentile(histogram, 0.95) == 8000


@pytest.mark.skipif(connection.vendor != "postgresql", reason="partitions are PostgreSQL's")
def test_records_go_to_their_days_partition_made_on_demand():
    earlier = (NOW - timedelta(days=5)).timestamp()
    store_rows(one_call("c-1") + one_call("c-old", start=earlier))
    days = partitions.existing()
    assert datetime.fromtimestamp(T0, UTC).date() in days
    assert datetime.fromtimestamp(earlier, UTC).date() in days
    with connection.cursor() as cursor:
        name = partitions.partition_name(datetime.fromtimestamp(earlier, UTC).date())
        cursor.execute(f'SELECT count(*) FROM "{name}"')  # noqa: S608 - our own name
        assert cursor.fetchone()[0] == 3


@pytest.mark.skipif(connection.vendor != "postgresql", reason="partitions are PostgreSQL's")
def test_retention_drops_whole_days_and_old_rollups():
    old = (NOW - timedelta(days=40)).timestamp()
    store_rows(one_call("c-1") + one_call("c-old", start=old))
    done = partitions.maintain(NOW, retention_days=30)
    assert datetime.fromtimestamp(old, UTC).date() in done.dropped
    assert set(CallRecord.objects.values_list("call_id", flat=True)) == {"c-1"}
    cutoff = NOW - timedelta(days=30)
    assert not TrafficRollup.objects.filter(bucket__lt=cutoff).exists()
    assert TrafficRollup.objects.exists()
    # Yesterday to two days ahead exist for the records to come.
    assert {NOW.date() + timedelta(days=n) for n in (-1, 0, 1, 2)} <= partitions.existing()


def sum_of(field: str):
    from django.db.models import Sum

    return Sum(field)


LCR_ROUTE = {**ROUTE_2, "rate": "0.0125", "currency": "EUR", "fee": "0.05", "inc": "30/6",
             "sell": "0.02", "sinc": "60/60"}  # fmt: skip


def priced_call(call_id: str, start: float = T0, route: dict = LCR_ROUTE, **changes) -> list[dict]:
    return rows(call(start, call_id, j_route=route, **changes))


def test_priced_calls_are_stored_and_their_money_summed_per_carrier_once():
    # Each call: 60.507 s; cost 0.05 + 0.0125 x 66 / 60 = 0.06375, revenue 0.04.
    assert store_rows(priced_call("m-1") + priced_call("m-2") + priced_call("m-1")) == 2
    stored = CallRecord.objects.get(call_id="m-1")
    assert (stored.currency, stored.billed_seconds) == ("EUR", 66)
    assert (stored.cost, stored.revenue, stored.margin) == (D("0.06375"), D("0.04"), D("-0.02375"))
    # The same call again in a later batch: not summed twice.
    store_rows(priced_call("m-2"))
    start, end = datetime.fromtimestamp(T0, UTC) - timedelta(hours=1), NOW + timedelta(hours=1)
    (money,) = rollups.money_by("carrier_id", start, end)[11]
    assert (money.currency, money.priced, money.billed_seconds) == ("EUR", 2, 132)
    assert (money.cost, money.revenue, money.margin) == (D("0.1275"), D("0.08"), D("-0.0475"))
    assert money.margin_percent == D("-59.4")
    assert rollups.money_totals(start, end, tenant_id=1) == [money]


def test_money_is_summed_per_currency_and_a_call_without_revenue_has_no_margin():
    usd = {**ROUTE_2, "carrier": 12, "rate": "0.6", "currency": "USD", "sell": None}
    store_rows(priced_call("m-1") + priced_call("u-1", route=usd) + rows(call(T0, "plain")))
    start, end = NOW - timedelta(days=1), NOW + timedelta(hours=1)
    totals = {m.currency: m for m in rollups.money_totals(start, end)}
    assert set(totals) == {"EUR", "USD"}
    # 61 s at 0.6/min billed per second: 0.61; no customer rate: no revenue, no margin
    assert (totals["USD"].cost, totals["USD"].sold, totals["USD"].margin) == (D("0.61"), 0, None)
    assert totals["EUR"].margin == D("-0.02375")
    # Hourly and 5-minute tables agree (a day's range reads whole hours from the hourly one).
    assert rollups.money_totals(start, end) == rollups.money_by(None, start, end)[0]
    # Per step (the Traffic pages' money chart): every step present, each currency apart,
    # the steps adding up to the range's totals, hourly or by 5 minutes.
    for step in (3600, 300):
        series = rollups.money_series(start, end, step)
        assert set(series) == {"EUR", "USD"}
        for currency, steps in series.items():
            assert len(steps) == len(rollups.series(start, end, step))
            assert sum(m.cost for _, m in steps) == totals[currency].cost
            assert sum(m.revenue for _, m in steps) == totals[currency].revenue
            assert sum(1 for _, m in steps if m.priced) == 1
