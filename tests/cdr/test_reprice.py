"""manage.py reprice_calls (routing.cdr.reprice): stored calls priced again after a rate
correction, records and money rollups together, all or nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from io import StringIO

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection

from routing.cdr import rollups
from routing.cdr.pricing import Terms, charge
from routing.cdr.records import COLUMNS, parse_message
from routing.cdr.reprice import reprice
from routing.cdr.store import store_rows
from routing.models import (
    CallRecord,
    Carrier,
    Rate,
    RateDeck,
    Tenant,
    TrafficMoneyRollup,
    TrafficMoneyRollupHour,
)

from .samples import CALL, ROUTE_2, body, call

pytestmark = pytest.mark.django_db

NOW = datetime.now(UTC).replace(microsecond=0)
START = NOW - timedelta(days=2)  # the calls: two days ago, a minute apart
LONG_AGO = NOW - timedelta(days=365)
DURATION_MS = 60_671  # samples.call(): answered 0.1634 s after the INVITE, 60.671 s


@pytest.fixture
def world():
    acme = Tenant.objects.create(name="Acme")
    other = Tenant.objects.create(name="Other")
    alpha = Carrier.objects.create(name="Alpha")
    beta = Carrier.objects.create(name="Beta")
    alpha_deck = RateDeck.objects.create(name="Alpha buy", carrier=alpha, currency="EUR")
    beta_deck = RateDeck.objects.create(name="Beta buy", carrier=beta, currency="EUR")
    sell = RateDeck.objects.create(name="Acme sell", tenant=acme, currency="EUR")
    rates = {
        "a33": _rate(alpha_deck, "33", "0.02"),
        "a336": _rate(alpha_deck, "336", "0.01", fee="0.05", inc=(30, 6)),
        "b33": _rate(beta_deck, "33", "0.015"),
        "s33": _rate(sell, "33", "0.03", inc=(60, 60)),
    }
    return {"acme": acme, "other": other, "alpha": alpha, "beta": beta,
            "alpha_deck": alpha_deck, "beta_deck": beta_deck, "sell": sell, **rates}  # fmt: skip


def _rate(deck, prefix, rate, *, fee="0", inc=(1, 1), since=LONG_AGO, until=None):
    return Rate.objects.create(
        deck=deck, prefix=prefix, rate=D(rate), connect_fee=D(fee), initial_increment=inc[0],
        next_increment=inc[1], effective_from=since, effective_until=until,
    )  # fmt: skip


def _store(
    call_id, carrier, tenant, number="33612345678", *, rate="0.01", fee="0.05", inc="30/6",
    sell="0.03", sinc="60/60", currency="EUR", start=None, lrn=None,
):  # fmt: skip
    """An answered least-cost call as the ingester stores it, priced from its answer's terms."""
    route = {**ROUTE_2, "carrier": carrier.pk, "rate": rate, "currency": currency, "fee": fee,
             "inc": inc, "to": number}  # fmt: skip
    if sell is not None:
        route.update(sell=sell, sinc=sinc)
    j_call = {**CALL, "tenant": tenant.pk, "callee": number}
    if lrn:
        j_call["lrn"] = lrn
    moment = (start or START).timestamp()
    row = parse_message(body(call(moment, call_id, j_call=j_call, j_route=route)))
    assert store_rows([row]) == 1
    return row


def _record(call_id):
    return CallRecord.objects.get(call_id=call_id, kind="call")


def _run(*args):
    out = StringIO()
    call_command("reprice_calls", "--since", (START - timedelta(hours=6)).isoformat(), *args,
                 stdout=out)  # fmt: skip
    return out.getvalue()


def _money_rows(model):
    return sorted(
        model.objects.values_list(
            "bucket",
            "direction",
            "tenant_id",
            "carrier_id",
            "gateway_id",
            "rule_id",
            "currency",
            "priced",
            "billed_seconds",
            "cost",
            "sold",
            "revenue",
            "sold_cost",
        )
    )


def _rebuilt_rollups():
    """The money rollups a fresh ingest of the records as they are now would give."""
    records = list(CallRecord.objects.values(*COLUMNS))
    TrafficMoneyRollup.objects.all().delete()
    TrafficMoneyRollupHour.objects.all().delete()
    delta = rollups.deltas(records)
    rollups.apply(rollups.Deltas(money=delta.money))
    return _money_rows(TrafficMoneyRollup), _money_rows(TrafficMoneyRollupHour)


def test_a_corrected_rate_reprices_the_calls_of_its_prefix_and_leaves_the_others(world):
    _store("c-336", world["alpha"], world["acme"])  # Alpha's 336: 0.01 + 0.05, 30/6
    _store("c-331", world["alpha"], world["acme"], "33112345678", rate="0.02", fee="0", inc="1/1")
    before_331 = _record("c-331")
    rate = world["a336"]
    rate.rate = D("0.008")  # the vendor's invoice says 0.008: corrected in place
    rate.save()
    out = _run()
    assert "2 records read, 1 changed, 1 unchanged, 0 without a rate" in out
    assert "c-336 33612345678: rate 0.010000 -> 0.008000" in out
    record = _record("c-336")
    billed, cost = charge(Terms(D("0.008"), D("0.05"), 30, 6), DURATION_MS)
    _billed, revenue = charge(Terms(D("0.03"), D(0), 60, 60), DURATION_MS)
    assert (record.rate, record.billed_seconds, record.cost) == (D("0.008"), billed, cost)
    assert (record.revenue, record.margin) == (revenue, revenue - cost)
    untouched = _record("c-331")
    assert (untouched.rate, untouched.cost, untouched.margin) == (
        before_331.rate, before_331.cost, before_331.margin,
    )  # fmt: skip
    (money,) = rollups.money_totals(NOW - timedelta(days=3), NOW)
    assert money.cost == cost + before_331.cost


def test_a_longer_prefix_wins_and_a_ported_number_is_priced_on_its_lrn(world):
    _store("c-1", world["alpha"], world["acme"])
    # Ported: dialled 33612345678, routed (and priced) on its LRN 33199999999 (Alpha's 33).
    _store("c-lrn", world["alpha"], world["acme"], lrn="33199999999", rate="0.02", fee="0",
           inc="1/1")  # fmt: skip
    _rate(world["alpha_deck"], "3361", "0.004")  # a longer prefix, in effect all along
    _run()
    assert _record("c-1").rate == D("0.004")
    assert _record("c-1").cost == charge(Terms(D("0.004")), DURATION_MS)[1]
    assert _record("c-lrn").rate == D("0.02")  # the LRN's rate, not 336's or 3361's


def test_a_rate_not_yet_in_effect_or_already_ended_at_the_call_is_not_used(world):
    early, late = START - timedelta(hours=2), START
    for name, number, moment in (
        ("early-a", "33612345678", early),
        ("late-a", "33612345678", late),
        ("early-b", "33619999999", early),
        ("late-b", "33619999999", late),
    ):
        _store(name, world["alpha"], world["acme"], number, start=moment)  # fmt: skip
    # 3361 starts between the calls; 33619 ends between them (one batch reads both).
    _rate(world["alpha_deck"], "3361", "0.004", since=START - timedelta(hours=1))
    _rate(world["alpha_deck"], "33619", "0.003", until=START - timedelta(hours=1))
    out = _run()
    assert "4 records read, 3 changed, 1 unchanged" in out
    assert _record("early-a").rate == D("0.01")  # 3361 not yet: 336
    assert _record("late-a").rate == D("0.004")  # 3361 in effect
    assert _record("early-b").rate == D("0.003")  # 33619 in effect then
    assert _record("late-b").rate == D("0.004")  # 33619 over: back to 3361
    # A prefix's rate ended and a later one took over: the later one is used.
    world["a336"].effective_until = START - timedelta(hours=3)
    world["a336"].save()
    _rate(world["alpha_deck"], "336", "0.009", since=START - timedelta(hours=3))
    _run()
    assert _record("early-a").rate == D("0.009")


def test_the_sell_side_is_repriced_from_the_sell_deck_and_under_a_pricing_policy(world):
    _store("c-acme", world["alpha"], world["acme"])
    _store("c-other", world["alpha"], world["other"], sell="0.012", sinc="30/6")
    Tenant.objects.filter(pk=world["other"].pk).update(pricing="percent", markup=D(20))
    world["s33"].rate = D("0.025")
    world["s33"].save()
    world["a336"].rate = D("0.02")
    world["a336"].save()
    _run()
    acme = _record("c-acme")
    _billed, cost = charge(Terms(D("0.02"), D("0.05"), 30, 6), DURATION_MS)
    _billed, revenue = charge(Terms(D("0.025"), D(0), 60, 60), DURATION_MS)
    assert (acme.sell_rate, acme.revenue, acme.margin) == (D("0.025"), revenue, revenue - cost)
    other = _record("c-other")  # cost + 20%: 0.024/min and a fee of 0.06, the cost's 30/6
    _billed, revenue = charge(Terms(D("0.024"), D("0.06"), 30, 6), DURATION_MS)
    assert (other.sell_rate, other.revenue, other.margin) == (D("0.024"), revenue, revenue - cost)


def test_the_preview_counts_and_samples_and_writes_nothing(world):
    for n in range(3):
        _store(f"c-{n}", world["alpha"], world["acme"], start=START + timedelta(minutes=n))
    world["a336"].rate = D("0.008")
    world["a336"].save()
    records = list(CallRecord.objects.values_list("call_id", "rate", "cost", "revenue", "margin"))
    money = _money_rows(TrafficMoneyRollup), _money_rows(TrafficMoneyRollupHour)
    out = _run("--preview")
    assert "Preview of the re-pricing" in out and "3 records read, 3 changed" in out
    assert "Preview only: nothing was written." in out
    assert out.count("rate 0.010000 -> 0.008000") == 3
    # 3 x (0.05 + 0.01 x 66 / 60) -> 3 x (0.05 + 0.008 x 66 / 60); revenue 3 x 0.03 x 120 / 60
    assert (
        "EUR: cost 0.183000 -> 0.176400, revenue 0.180000 -> 0.180000, margin -0.003000 -> 0.003600"
    ) in out
    assert list(CallRecord.objects.values_list("call_id", "rate", "cost", "revenue", "margin")) == (
        records
    )
    assert (_money_rows(TrafficMoneyRollup), _money_rows(TrafficMoneyRollupHour)) == money


def test_after_applying_the_rollups_equal_a_rebuild_from_the_records(world):
    user = get_user_model().objects.create_superuser("ops", "ops@example.com", "x")
    # Calls over several buckets, hours and keys, some changed, some not, two days.
    for n in range(12):
        start = START - timedelta(days=n % 2, minutes=37 * n)
        _store(f"a-{n}", world["alpha"], world["acme"], start=start)
        _store(f"b-{n}", world["beta"], world["other"], "33112345678", rate="0.015", fee="0",
               inc="1/1", sell=None, start=start)  # fmt: skip
    _store("x-1", world["alpha"], world["other"], "33112345678", rate="0.02", fee="0", inc="1/1",
           sell=None)  # fmt: skip
    world["a336"].rate = D("0.0123")
    world["a336"].connect_fee = D("0")
    world["a336"].initial_increment = 60
    world["a336"].save()
    world["b33"].rate = D("0.017")
    world["b33"].save()
    world["s33"].rate = D("0.031")
    world["s33"].save()
    since = START - timedelta(days=2)
    out = StringIO()
    call_command("reprice_calls", "--since", since.isoformat(), "--user", "ops", stdout=out)
    assert "25 records read, 24 changed, 1 unchanged" in out.getvalue()
    series = {step: rollups.money_series(since, NOW, step) for step in (300, 3600)}
    totals = rollups.money_totals(since, NOW)
    after = _money_rows(TrafficMoneyRollup), _money_rows(TrafficMoneyRollupHour)
    assert _rebuilt_rollups() == after
    assert {step: rollups.money_series(since, NOW, step) for step in (300, 3600)} == series
    assert rollups.money_totals(since, NOW) == totals
    entry = LogEntry.objects.get(user=user)
    assert "Call records re-priced: 25 records read, 24 changed" in entry.change_message


def test_the_rollups_get_the_difference_so_a_call_counted_meanwhile_is_kept(world):
    row = _store("c-1", world["alpha"], world["acme"])
    # A call of the same bucket and keys whose rollups an ingester committed but whose
    # record this re-pricing does not read (here: not stored at all): the bucket's sums
    # must keep it (an addition, not the bucket recomputed from the records read).
    meanwhile = {**row, "call_id": "c-meanwhile", "cost": D("1"), "billed_seconds": 60,
                 "revenue": D("2"), "margin": D("1")}  # fmt: skip
    rollups.apply(rollups.deltas([meanwhile]))
    world["a336"].rate = D("0.008")
    world["a336"].save()
    _run()
    record = _record("c-1")
    for hourly in (False, True):
        model = TrafficMoneyRollupHour if hourly else TrafficMoneyRollup
        (bucket,) = model.objects.all()
        assert (bucket.priced, bucket.sold) == (2, 2)
        assert bucket.billed_seconds == record.billed_seconds + 60
        assert (bucket.cost, bucket.revenue) == (record.cost + 1, record.revenue + 2)
        assert bucket.sold_cost == record.cost + 1


def test_records_without_a_rate_or_in_another_currency_are_counted_and_left(world):
    _store("c-44", world["alpha"], world["acme"], "4412345678", rate="0.05", fee="0", inc="1/1")
    _store("c-usd", world["beta"], world["acme"], "33112345678", rate="0.3", currency="USD",
           fee="0", inc="1/1", sell=None)  # fmt: skip
    before = list(CallRecord.objects.order_by("call_id").values_list("rate", "cost", "margin"))
    money = _money_rows(TrafficMoneyRollup)
    out = _run()
    assert "2 records read, 0 changed, 0 unchanged, 1 without a rate, 1 in another currency" in out
    moment = START.strftime("%Y-%m-%dT%H:%MZ")
    assert f"no rate for 4412345678 in deck Alpha buy at {moment}" in out
    assert "deck Beta buy is in EUR, call c-usd in USD" in out
    assert list(CallRecord.objects.order_by("call_id").values_list("rate", "cost", "margin")) == (
        before
    )
    assert _money_rows(TrafficMoneyRollup) == money


def test_carrier_and_tenant_filters(world):
    _store("alpha-acme", world["alpha"], world["acme"])
    _store("alpha-other", world["alpha"], world["other"], sell=None)
    _store("beta-acme", world["beta"], world["acme"], "33112345678", rate="0.015", fee="0",
           inc="1/1", sell="0.03")  # fmt: skip
    world["a336"].rate = D("0.008")
    world["a336"].save()
    world["b33"].rate = D("0.011")
    world["b33"].save()
    out = _run("--carrier", "Alpha", "--tenant", str(world["other"].pk))
    assert "1 records read, 1 changed" in out
    assert _record("alpha-other").rate == D("0.008")
    assert _record("alpha-acme").rate == D("0.01")
    assert _record("beta-acme").rate == D("0.015")
    out = _run("--carrier", "Beta", "--carrier", "Alpha", "--tenant", "Acme")
    assert "2 records read, 2 changed" in out
    assert (_record("alpha-acme").rate, _record("beta-acme").rate) == (D("0.008"), D("0.011"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "the following arguments are required: --since"),
        (("--since", "yesterday"), "--since: 'yesterday' is not an ISO 8601 date-time"),
        (("--since", "2026-11-20", "--until", "2026-13-01"), "--until: '2026-13-01' is not"),
        (("--since", NOW.isoformat(), "--until", (NOW - timedelta(days=1)).isoformat()),
         "is not after --since"),
        (("--since", (NOW - timedelta(days=91)).isoformat()),
         "before the records kept (C4ROUTER_CDR_RETENTION_DAYS = 90"),
        (("--since", START.isoformat(), "--carrier", "Nobody"),
         "--carrier: there is no carrier named 'Nobody'"),
        (("--since", START.isoformat(), "--tenant", "Nobody"),
         "--tenant: there is no tenant named 'Nobody'"),
        (("--since", START.isoformat(), "--user", "nobody"), "There is no user named 'nobody'."),
    ],
)  # fmt: skip
def test_bad_arguments_are_refused_with_a_clear_message(world, args, message):
    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call_command("reprice_calls", *args, stdout=StringIO())


def test_applying_is_all_or_nothing(world):
    for n in range(5):
        _store(f"c-{n}", world["alpha"], world["acme"], start=START + timedelta(minutes=n))
    world["a336"].rate = D("0.008")
    world["a336"].save()
    records = list(CallRecord.objects.order_by("call_id").values_list("rate", "cost", "margin"))
    money = _money_rows(TrafficMoneyRollup), _money_rows(TrafficMoneyRollupHour)
    # The database refuses the update of the last call (a trigger): batches of 2, so the
    # first two batches were updated before it.
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION test_refuse_c4() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
            " IF NEW.call_id = 'c-4' THEN RAISE EXCEPTION 'refused by the test'; END IF;"
            " RETURN NEW; END $$"
        )
        cursor.execute(
            "CREATE TRIGGER test_refuse_c4 BEFORE UPDATE ON routing_callrecord"
            " FOR EACH ROW EXECUTE FUNCTION test_refuse_c4()"
        )
    with pytest.raises(DatabaseError, match="refused by the test"):
        reprice(START - timedelta(hours=1), NOW, batch=2)
    assert list(CallRecord.objects.order_by("call_id").values_list("rate", "cost", "margin")) == (
        records
    )
    assert (_money_rows(TrafficMoneyRollup), _money_rows(TrafficMoneyRollupHour)) == money
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER test_refuse_c4 ON routing_callrecord")
    result = reprice(START - timedelta(hours=1), NOW, batch=2)
    assert result.changed == 5
    assert set(CallRecord.objects.values_list("rate", flat=True)) == {D("0.008")}
