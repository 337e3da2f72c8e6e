"""Least-cost routing through the database: the loader reads the decks, the endpoint's
answer carries the rates, a rate change reaches the table, the route tester explains."""

from __future__ import annotations

import datetime
import json
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
from django.core.management import call_command
from jsonschema import Draft202012Validator

from routing.loader import holder
from routing.models import Rate, RateDeck

from .conftest import TOKEN
from .test_health import _sample

ANSWER = Draft202012Validator(
    json.loads((Path(__file__).parents[1] / "data" / "rtjson-answer.schema.json").read_text())
)
START = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


def body() -> bytes:
    return orjson.dumps(
        {
            "event": "sip-routing", "source_ip": "10.10.0.10", "source_port": "5060",
            "auth": 0, "call_id": "lcr@test", "from_name": "", "from_uri":
            "sip:0123456789@10.10.0.10", "from_tag": "1", "to_name": "",
            "to_uri": "sip:0612345678@c4router.example", "to_tag": "<null>",
        }
    )  # fmt: skip


def answer(client) -> dict:  # type: ignore[no-untyped-def]
    response = client.post(
        "/kamailio/rtjson", data=body(), content_type="application/json", HTTP_X_C4_TOKEN=TOKEN
    )
    assert response.status_code == 200
    document = orjson.loads(response.content)
    assert not list(ANSWER.iter_errors(document))
    return document["rtjson"]


@pytest.fixture
def lcr(routing_data):  # type: ignore[no-untyped-def]
    """France (Alpha at order 0, Beta at 1) in least-cost mode; Alpha charges 0.02 for 33,
    Beta 0.01 for 336; Acme pays 0.015 for 33."""
    routing_data.france.mode = "lcr"
    routing_data.france.save()
    alpha = RateDeck.objects.create(name="Alpha buy", carrier=routing_data.alpha, currency="EUR")
    beta = RateDeck.objects.create(name="Beta buy", carrier=routing_data.beta, currency="EUR")
    sell = RateDeck.objects.create(name="Acme sell", tenant=routing_data.tenant, currency="EUR")
    Rate.objects.create(deck=alpha, prefix="33", rate=Decimal("0.02"), effective_from=START)
    Rate.objects.create(deck=beta, prefix="336", rate=Decimal("0.01"), effective_from=START)
    Rate.objects.create(deck=sell, prefix="33", rate=Decimal("0.015"), effective_from=START)
    previous = holder.table
    holder.refresh(force=True)
    yield routing_data
    holder.table = previous


def test_the_cheapest_profitable_carrier_is_the_only_route(client, lcr):
    routed = answer(client)
    assert routed["success"] is True
    assert [r["dst_uri"] for r in routed["routes"]] == ["sip:192.0.2.20:5080"]  # Beta only
    assert routed["routes"][0]["c4"]["rate"] == "0.010000"
    assert routed["routes"][0]["c4"]["sell"] == "0.015000"
    assert routed["routes"][0]["c4"]["currency"] == "EUR"


def test_a_rate_change_reaches_the_table_and_can_refuse_the_call(client, lcr):
    version = holder.table.version
    Rate.objects.filter(deck__name="Beta buy").update(rate=Decimal("0.03"))  # no signal
    holder.refresh()
    assert holder.table.version == version  # an update() alone bumps nothing
    rate = Rate.objects.get(deck__name="Beta buy")
    rate.save()  # the admin/API way: the version moves, the workers follow
    holder.refresh()
    assert holder.table.version > version
    name = 'c4router_routing_requests_total{outcome="no_profitable_route"}'
    before = _sample(client.get("/metrics").content.decode(), name)
    refused = answer(client)
    assert _sample(client.get("/metrics").content.decode(), name) == before + 1
    assert (refused["success"], refused["code"], refused["reason"]) == (
        False, 503, "No profitable route",
    )  # fmt: skip
    lcr.tenant.no_profit_code = 480
    lcr.tenant.no_profit_reason = "Margin too low"
    lcr.tenant.save()
    holder.refresh()
    assert (answer(client)["code"], answer(client)["reason"]) == (480, "Margin too low")


def test_route_command_explains_rates_and_margins(lcr, capsys):
    call_command("route", "--source-ip", "10.10.0.10", "--from", "sip:0123456789@x",
                 "--to", "sip:0612345678@x")  # fmt: skip
    out = capsys.readouterr().out
    assert "Mode: least cost" in out
    assert "Customer rate: 0.015 EUR/min (prefix 33), minimum margin 0%" in out
    assert "Carrier Beta: 0.01 EUR/min (prefix 336), margin 33.33%, kept" in out
    assert (
        "Carrier Alpha: 0.02 EUR/min (prefix 33), margin -33.33%, left out: rate 0.020000 "
        "above the customer's 0.015000"
    ) in out
    assert "  rate: 0.01 EUR/min, customer 0.015" in out
    assert "Answer: 200 OK" in out


def test_admin_route_tester_shows_the_rates(admin_client, lcr):
    page = admin_client.get(
        "/admin/route-tester/",
        {"source_ip": "10.10.0.10", "from_uri": "sip:0123456789@x", "to_uri": "sip:0612345678@x"},
    )
    text = page.content.decode()
    assert "Carrier Beta: 0.01 EUR/min (prefix 336), margin 33.33%, kept" in text
    assert "Carrier Alpha: 0.02 EUR/min" in text and "left out: rate 0.020000 above" in text


def test_a_rule_that_rejects_with_any_code_is_counted(client, routing_data):
    """A rule's own code (here 503, which no other outcome has) is answered and counted
    as "rejected" (it raised KeyError in the metrics before)."""
    routing_data.france.action = "reject"
    routing_data.france.reject_code = 503
    routing_data.france.reject_reason = "Closed"
    routing_data.france.save()
    routing_data.france.targets.all().delete()
    previous = holder.table
    holder.refresh(force=True)
    try:
        name = 'c4router_routing_requests_total{outcome="rejected"}'
        before = _sample(client.get("/metrics").content.decode(), name)
        refused = answer(client)
        assert _sample(client.get("/metrics").content.decode(), name) == before + 1
    finally:
        holder.table = previous
    assert (refused["code"], refused["reason"]) == (503, "Closed")


def test_a_no_profit_reason_written_around_validation_never_reaches_the_answer(client, lcr):
    """QuerySet.update() skips the validators: the answer gate answers with the defaults
    instead of a reason that would end Kamailio's status line."""
    from routing.models import Tenant

    Tenant.objects.filter(pk=lcr.tenant.pk).update(
        no_profit_code=480, no_profit_reason="Nope\r\nX-Injected: yes"
    )
    Rate.objects.filter(deck__name="Beta buy").update(rate=Decimal("0.03"))
    previous = holder.table
    holder.refresh(force=True)
    try:
        refused = answer(client)
    finally:
        holder.table = previous
    assert (refused["code"], refused["reason"]) == (503, "No profitable route")


def test_rule_mode_and_band_are_checked_by_the_model(routing_data):
    from django.core.exceptions import ValidationError

    rule = routing_data.france
    rule.mode = "lcr_band"
    with pytest.raises(ValidationError) as caught:
        rule.full_clean()
    assert caught.value.message_dict["band_percent"] == [
        "A banded least-cost rule needs its band (e.g. 5 for 5%)."
    ]
    rule.mode, rule.band_percent = "lcr", Decimal(5)
    with pytest.raises(ValidationError) as caught:
        rule.full_clean()
    assert caught.value.message_dict["band_percent"] == [
        "Only for a banded least-cost rule: leave it empty."
    ]
    rule.mode = "lcr_band"
    rule.full_clean()  # a band with its mode: fine


def test_a_rate_deck_has_one_owner_and_a_rate_ends_after_it_starts(routing_data):
    from django.core.exceptions import ValidationError

    both = RateDeck(name="x", carrier=routing_data.alpha, tenant=routing_data.tenant)
    with pytest.raises(ValidationError, match="exactly one owner"):
        both.full_clean()
    deck = RateDeck.objects.create(name="Alpha", carrier=routing_data.alpha)
    backwards = Rate(deck=deck, prefix="33", rate=Decimal("0.01"), effective_from=START,
                     effective_until=START)  # fmt: skip
    with pytest.raises(ValidationError) as caught:
        backwards.full_clean()
    assert "The rate must end after it starts." in caught.value.message_dict["effective_until"]
    negative = Rate(deck=deck, prefix="+33", rate=Decimal("-1"), effective_from=START)
    with pytest.raises(ValidationError) as caught:
        negative.full_clean()
    assert set(caught.value.message_dict) >= {"prefix", "rate"}


@pytest.fixture
def api_client(admin_user):  # type: ignore[no-untyped-def]
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(admin_user)
    return client


@pytest.fixture
def policy(lcr):  # type: ignore[no-untyped-def]
    """The lcr fixture without Acme's sell deck: Acme pays cost + 20%."""
    RateDeck.objects.get(name="Acme sell").delete()
    lcr.tenant.pricing = "percent"
    lcr.tenant.markup = Decimal(20)
    lcr.tenant.full_clean()
    lcr.tenant.save()
    holder.refresh(force=True)
    return lcr


def test_a_pricing_policy_prices_each_route_from_its_cost(client, policy, capsys):
    routed = answer(client)
    c4s = [(r["c4"]["rate"], r["c4"]["sell"]) for r in routed["routes"]]
    assert c4s == [("0.010000", "0.012000"), ("0.020000", "0.024000")]  # Beta, then Alpha
    call_command("route", "--source-ip", "10.10.0.10", "--from", "sip:0123456789@x",
                 "--to", "sip:0612345678@x")  # fmt: skip
    out = capsys.readouterr().out
    assert "Customer rate: cost + 20% (pricing policy), minimum margin 0%" in out
    assert "Carrier Beta: 0.01 EUR/min (prefix 336), customer 0.012, margin 16.67%, kept" in out
    assert "  rate: 0.01 EUR/min, customer 0.012" in out
    # A minimum margin above what the policy leaves: no profitable route.
    policy.tenant.min_margin_percent = Decimal(20)
    policy.tenant.save()
    holder.refresh()
    assert (answer(client)["code"], answer(client)["reason"]) == (503, "No profitable route")


def test_the_admin_route_tester_shows_the_policy(admin_client, policy):
    page = admin_client.get(
        "/admin/route-tester/",
        {"source_ip": "10.10.0.10", "from_uri": "sip:0123456789@x", "to_uri": "sip:0612345678@x"},
    )
    assert "Customer rate: cost + 20% (pricing policy)" in page.content.decode()


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"markup": "5"}, "markup", "Choose a pricing policy for this markup"),
        ({"pricing": "percent", "markup": "2000"}, "markup", "At most 1000%."),
        (
            {"pricing": "percent", "markup": "5", "pricing_currency": "EUR"},
            "pricing_currency",
            "A percentage has no currency",
        ),
        (
            {"pricing": "fixed", "markup": "0.002"},
            "pricing_currency",
            "Give the fixed markup's currency",
        ),
        (
            {"pricing": "fixed", "markup": "-1", "pricing_currency": "EUR"},
            "markup",
            "greater than or equal to 0",
        ),
        ({"pricing": "cheap"}, "pricing", "is not one of the available choices"),
    ],
)
def test_the_api_refuses_a_bad_policy(api_client, fields, field, message):  # type: ignore[no-untyped-def]
    response = api_client.post("/api/v1/tenants/", {"name": "Initech", **fields}, format="json")
    assert response.status_code == 400, response.json()
    assert message in " ".join(response.json()[field])


def test_a_policy_and_a_sell_deck_exclude_each_other(api_client, lcr):  # type: ignore[no-untyped-def]
    url = f"/api/v1/tenants/{lcr.tenant.pk}/"
    response = api_client.patch(url, {"pricing": "percent", "markup": "20"}, format="json")
    assert response.status_code == 400
    assert "has a sell rate deck (Acme sell)" in response.json()["pricing"][0]
    RateDeck.objects.get(name="Acme sell").delete()
    response = api_client.patch(url, {"pricing": "percent", "markup": "20"}, format="json")
    assert response.status_code == 200
    assert (response.json()["pricing"], response.json()["markup"]) == ("percent", "20.000000")
    response = api_client.post(
        "/api/v1/rate-decks/",
        {"name": "Acme again", "tenant": lcr.tenant.pk, "currency": "EUR"},
        format="json",
    )
    assert response.status_code == 400
    assert "is priced by a policy" in str(response.json())


def test_an_imported_deck_reaches_the_table_and_takes_effect_at_its_date(client, lcr, capsys):
    """Beta's deck re-imported with 336 at 0.03 from tomorrow: today's calls still go to
    Beta at 0.01; from tomorrow Beta costs more than Acme pays and is left out."""
    import io

    from django.utils import timezone

    from routing.imports_rates import import_rates

    tomorrow = timezone.now() + datetime.timedelta(days=1)
    version = holder.table.version
    deck = RateDeck.objects.get(name="Beta buy")
    import_rates(deck, io.StringIO("prefix,rate\n+336,0.03\n"), effective_from=tomorrow)
    holder.refresh()
    assert holder.table.version == version + 1
    assert answer(client)["routes"][0]["c4"]["rate"] == "0.010000"
    later = (tomorrow + datetime.timedelta(hours=1)).isoformat()
    call_command("route", "--source-ip", "10.10.0.10", "--from", "sip:0123456789@x",
                 "--to", "sip:0612345678@x", "--at", later)  # fmt: skip
    out = capsys.readouterr().out
    assert "Carrier Beta: 0.03 EUR/min (prefix 336)" in out
    assert "left out: rate 0.030000 above the customer's 0.015000" in out
