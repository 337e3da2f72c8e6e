"""Least-cost routing across currencies through the database: the loader reads the exchange
rates into the table, an exchange-rate edit patches the running table without re-reading a
deck (and its remembered outcomes go with the old table), the route tester shows the
conversions."""

from __future__ import annotations

import datetime
import logging
from decimal import Decimal
from fractions import Fraction

import pytest
from django.core.management import call_command

from routing.loader import holder, update_from_database
from routing.models import ExchangeRate, Rate, RateDeck

from .test_lcr import answer

START = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
ALPHA = "sip:203.0.113.10:5060"
BETA = "sip:192.0.2.20:5080"


@pytest.fixture
def fx_lcr(routing_data):  # type: ignore[no-untyped-def]
    """France in least-cost mode, no sell deck: Alpha charges 0.0100 EUR for 33, Beta
    0.0105 USD for 336; 1 EUR = 1.08 USD (the base): Alpha costs 0.0108 USD."""
    routing_data.france.mode = "lcr"
    routing_data.france.save()
    alpha = RateDeck.objects.create(name="Alpha buy", carrier=routing_data.alpha, currency="EUR")
    beta = RateDeck.objects.create(name="Beta buy", carrier=routing_data.beta, currency="USD")
    Rate.objects.create(deck=alpha, prefix="33", rate=Decimal("0.0100"), effective_from=START)
    Rate.objects.create(deck=beta, prefix="336", rate=Decimal("0.0105"), effective_from=START)
    ExchangeRate.objects.create(currency="EUR", rate=Decimal("1.08"))
    previous = holder.table
    holder.refresh(force=True)
    yield routing_data
    holder.table = previous


def test_carriers_in_two_currencies_are_ordered_in_the_base_currency(client, fx_lcr):
    assert holder.table.fx == {"USD": 1, "EUR": Fraction(27, 25)}
    routed = answer(client)
    assert [r["dst_uri"] for r in routed["routes"]] == [BETA, ALPHA]
    assert [(r["c4"]["rate"], r["c4"]["currency"]) for r in routed["routes"]] == [
        ("0.010500", "USD"), ("0.010000", "EUR"),
    ]  # fmt: skip


def test_an_exchange_rate_edit_patches_the_table_without_reading_a_deck(client, fx_lcr, caplog):
    table = holder.table
    assert [r["dst_uri"] for r in answer(client)["routes"]] == [BETA, ALPHA]
    assert table.lcr_memo  # the outcome is remembered by this table
    decks = {key: deck.rates for key, deck in table.carrier_decks.items()}

    euro = ExchangeRate.objects.get(currency="EUR")
    euro.rate = Decimal("1.00")  # Alpha now 0.0100 USD: cheaper than Beta
    euro.full_clean()
    euro.save()
    with caplog.at_level(logging.INFO, logger="c4router.loader"):
        holder.refresh()
    assert holder.table is not table
    assert "patched (0 rule, 0 DID and 0 number list changes; 0 rate prefixes and 0 decks" in (
        caplog.text
    )
    assert all(holder.table.carrier_decks[key].rates is rates for key, rates in decks.items())
    assert holder.table.rules is table.rules
    assert holder.table.fx["EUR"] == 1
    assert [r["dst_uri"] for r in answer(client)["routes"]] == [ALPHA, BETA]

    euro.delete()  # no exchange rate: Alpha left out
    patched = update_from_database(holder.table)
    assert patched is not None and "EUR" not in patched.fx
    holder.table = patched
    assert [r["dst_uri"] for r in answer(client)["routes"]] == [BETA]


def test_route_command_shows_the_conversion_and_a_missing_rate(fx_lcr, capsys):
    args = ("route", "--source-ip", "10.10.0.10", "--from", "sip:0123456789@x",
            "--to", "sip:0612345678@x")  # fmt: skip
    call_command(*args)
    out = capsys.readouterr().out
    assert "Carrier Beta: 0.0105 USD/min (prefix 336), kept" in out
    assert (
        "Carrier Alpha: 0.01 EUR/min (prefix 33), 0.01 EUR = 0.010800 USD at 1 EUR = 1.08 USD, kept"
    ) in out
    ExchangeRate.objects.all().delete()
    holder.refresh()
    call_command(*args)
    out = capsys.readouterr().out
    assert (
        "Carrier Alpha: 0.01 EUR/min (prefix 33), left out: no exchange rate for EUR (base USD)"
        in out
    )


def test_the_route_tester_shows_the_conversion(admin_client, fx_lcr):
    page = admin_client.get(
        "/admin/route-tester/",
        {"source_ip": "10.10.0.10", "from_uri": "sip:0123456789@x", "to_uri": "sip:0612345678@x"},
    )
    assert "0.01 EUR = 0.010800 USD at 1 EUR = 1.08 USD" in page.content.decode()


def test_a_sell_deck_in_another_currency_keeps_a_carrier_profitable_after_conversion(
    client, fx_lcr
):
    # Acme pays 0.0100 EUR (0.0108 USD): Beta's 0.0105 USD is 0.009722 EUR, kept; Alpha's
    # 0.0100 EUR leaves no margin but is not above: kept (minimum margin 0).
    sell = RateDeck.objects.create(name="Acme sell", tenant=fx_lcr.tenant, currency="EUR")
    Rate.objects.create(deck=sell, prefix="33", rate=Decimal("0.0100"), effective_from=START)
    holder.refresh()
    routed = answer(client)
    assert [r["dst_uri"] for r in routed["routes"]] == [BETA, ALPHA]
    # Beta's route: its rate in USD and no customer rate (in EUR) beside it.
    assert [(r["c4"]["currency"], r["c4"]["sell"]) for r in routed["routes"]] == [
        ("USD", None), ("EUR", "0.010000"),
    ]  # fmt: skip
    # Beta leaves 2.78% of the customer's rate, Alpha 0%.
    fx_lcr.tenant.min_margin_percent = Decimal("2")
    fx_lcr.tenant.save()
    holder.refresh()
    assert [r["dst_uri"] for r in answer(client)["routes"]] == [BETA]
    fx_lcr.tenant.min_margin_percent = Decimal("3")
    fx_lcr.tenant.save()
    holder.refresh()
    refused = answer(client)
    assert (refused["success"], refused["code"]) == (False, 503)
