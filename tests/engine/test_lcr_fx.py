"""Least-cost routing across currencies (routing.engine.fx): carriers ordered and banded by
their cost in the base currency, margins against a sell deck in another currency, a fixed
markup converted; without the exchange rate, the carrier left out with its reason."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from fractions import Fraction

import orjson
import pytest

from routing.engine.decide import _least_cost, find_rule
from routing.engine.fx import convert, explain, six
from routing.engine.rtjson import answer_bytes
from routing.engine.table import Patch, TableRows, TenantRow, patch_table

from .builders import NOW, build_table, route
from .test_lcr import ANSWER, CALLED, carriers_of, deck, lcr_rows, lcr_table, rate

D = Decimal
URI = f"sip:{CALLED}@x"
FX = {"EUR": "1.08", "GBP": "1.27"}


def three_currencies_rows(fx=FX, base="USD", **rule_fields):  # type: ignore[no-untyped-def]
    """Raw numbers: Gamma 0.0095 GBP < Alpha 0.0100 EUR < Beta 0.0105 USD; in USD at
    1.08 and 1.27: Beta 0.0105 < Alpha 0.0108 < Gamma 0.012065."""
    return lcr_rows(
        deck(1, rate("33", "0.0100"), carrier=1, currency="EUR"),
        deck(2, rate("33", "0.0105"), carrier=2, currency="USD"),
        deck(3, rate("33", "0.0095"), carrier=3, currency="GBP"),
        rule_fields=rule_fields,
        fx=fx,
        base=base,
    )


def three_currencies(fx=FX, base="USD", **rule_fields):  # type: ignore[no-untyped-def]
    return build_table(three_currencies_rows(fx, base, **rule_fields))


# --- the arithmetic ----------------------------------------------------------------------------


def test_convert_goes_through_the_base_exactly():
    fx = {"USD": Fraction(1), "EUR": Fraction(D("1.08")), "GBP": Fraction(D("1.27"))}
    assert convert(10_000, "EUR", "USD", fx) == 10_800
    assert convert(D("0.01"), "USD", "EUR", fx) == Fraction(1, 108)  # never rounded
    assert convert(1, "GBP", "EUR", fx) == Fraction(127, 108)
    assert convert(1, "JPY", "USD", fx) is None
    assert convert(5, "JPY", "JPY", fx) == 5  # one currency: no rate needed
    assert six(Fraction(1, 108)) == "0.009259"  # half up: 0.00925925...
    assert six(Fraction(5, 10**7)) == "0.000001"
    assert (
        explain(D("0.0100"), "EUR", "USD", fx, "USD")
        == "0.01 EUR = 0.010800 USD at 1 EUR = 1.08 USD"
    )
    assert explain(D("0.01"), "GBP", "EUR", fx, "USD") == (
        "0.01 GBP = 0.011759 EUR at 1 GBP = 1.27 USD, 1 EUR = 1.08 USD"
    )


# --- ordering and bands ------------------------------------------------------------------------


def test_lcr_orders_carriers_by_their_cost_in_the_base_currency():
    decision = route(three_currencies(), to_uri=URI)
    assert decision.code == 200
    # Beta's 0.0105 is the largest number but the cheapest in USD.
    assert carriers_of(decision) == ["beta", "alpha", "gamma"]
    assert [p.name for p in decision.pricing.carriers] == ["Beta", "Alpha", "Gamma"]
    alpha = decision.pricing.carriers[1]
    assert alpha.conversions == ("0.01 EUR = 0.010800 USD at 1 EUR = 1.08 USD",)
    # The answer keeps each carrier's rate in its deck's currency.
    answer = orjson.loads(answer_bytes(decision))
    assert not list(ANSWER.iter_errors(answer))
    c4s = [r["c4"] for r in answer["rtjson"]["routes"]]
    assert [(c["rate"], c["currency"]) for c in c4s] == [
        ("0.0105", "USD"), ("0.0100", "EUR"), ("0.0100", "EUR"), ("0.0095", "GBP"),
    ]  # fmt: skip


def test_another_base_currency_orders_the_same_carriers_the_same():
    # EUR as the base: USD 1/1.08 = 0.925926 EUR is not exact in decimals; the order holds.
    fx = {"USD": str(D(1) / D("1.08")), "GBP": str(D("1.27") / D("1.08"))}
    decision = route(three_currencies(fx=fx, base="EUR"), to_uri=URI)
    assert carriers_of(decision) == ["beta", "alpha", "gamma"]


def test_lcr_band_compares_the_converted_costs():
    # 4% of Beta's 0.0105 USD: up to 0.01092; Alpha's 0.0108 USD is in, Gamma's 0.012065 out.
    decision = route(three_currencies(mode="lcr_band", band_percent=D(4)), to_uri=URI)
    names = carriers_of(decision)
    assert set(names[:2]) == {"alpha", "beta"} and names[2] == "gamma"
    # Raw numbers would have put Gamma's 0.0095 first, with Alpha in its band.
    tbl = three_currencies(mode="lcr_band", band_percent=D(4))
    rule_row = find_rule(tbl, 1, "33612345678", "", NOW)
    assert rule_row is not None
    _, _, groups, _ = _least_cost(tbl, rule_row, TenantRow(1, "Acme"), "33612345678", NOW)
    assert [{t.carrier_id for t in g} for g in groups] == [{1, 2}, {3}]


def test_one_currency_needs_no_exchange_rate():
    tbl = lcr_table(
        deck(1, rate("33", "0.0300"), carrier=1, currency="EUR"),
        deck(2, rate("33", "0.0100"), carrier=2, currency="EUR"),
    )  # no exchange rate at all, base USD
    decision = route(tbl, to_uri=URI)
    assert carriers_of(decision) == ["beta", "alpha"]
    assert all(not p.conversions for p in decision.pricing.carriers)
    assert [p.key[1] for p in decision.pricing.carriers[:2]] == [10_000, 30_000]  # millionths


def test_a_carrier_without_an_exchange_rate_is_left_out_with_its_reason():
    decision = route(three_currencies(fx={"EUR": "1.08"}), to_uri=URI)
    assert decision.code == 200
    assert carriers_of(decision) == ["beta", "alpha"]
    assert "carrier Gamma: no exchange rate for GBP (base USD)" in decision.skipped


def test_no_carrier_with_an_exchange_rate_is_unavailable_not_unprofitable():
    tbl = lcr_table(
        deck(1, rate("33", "0.0100"), carrier=1, currency="EUR"),
        deck(3, rate("33", "0.0095"), carrier=3, currency="GBP"),
    )
    decision = route(tbl, to_uri=URI)
    assert decision.code == 480
    assert decision.outcome == ""
    assert "carrier Alpha: no exchange rate for EUR (base USD)" in decision.skipped


# --- margin protection against a sell deck in another currency --------------------------------


def euro_customer(min_margin: str = "0", fx=FX):  # type: ignore[no-untyped-def]
    """Acme pays 0.015 EUR. Alpha 0.0150 USD (0.013889 EUR at 1.08: 7.41%), Beta 0.0170 USD
    (0.015741 EUR: above), Gamma 0.0140 EUR (6.67%)."""
    return lcr_table(
        deck(1, rate("33", "0.0150"), carrier=1, currency="USD"),
        deck(2, rate("33", "0.0170"), carrier=2, currency="USD"),
        deck(3, rate("33", "0.0140"), carrier=3, currency="EUR"),
        deck(9, rate("33", "0.015"), tenant=1, currency="EUR"),
        tenants=(TenantRow(1, "Acme", min_margin_percent=D(min_margin)),),
        fx=fx,
    )


def test_margins_against_a_sell_deck_in_another_currency_convert_the_cost():
    decision = route(euro_customer(), to_uri=URI)
    assert decision.code == 200
    # Kept: Alpha (0.015 USD) before Gamma (0.0140 EUR = 0.01512 USD).
    assert carriers_of(decision) == ["alpha", "gamma"]
    assert "carrier Beta: rate 0.0170 USD (0.015741 EUR) above the customer's 0.015" in (
        decision.skipped
    )
    margins = {p.name: p.margin for p in decision.pricing.carriers}
    assert margins == {"Alpha": D("7.41"), "Gamma": D("6.67"), "Beta": D("-4.94")}
    alpha = decision.pricing.carriers[0]
    assert alpha.conversions[0] == "0.015 USD = 0.013889 EUR at 1 EUR = 1.08 USD"
    # The answer: Alpha's rate in USD, with no customer rate (the route has one currency);
    # Gamma's in EUR with the customer's.
    c4s = [r["c4"] for r in orjson.loads(answer_bytes(decision))["rtjson"]["routes"]]
    assert [(c["rate"], c["currency"], c["sell"]) for c in c4s] == [
        ("0.0150", "USD", None), ("0.0150", "USD", None), ("0.0140", "EUR", "0.015"),
    ]  # fmt: skip


def test_a_converted_carrier_under_the_minimum_margin_is_left_out():
    decision = route(euro_customer(min_margin="7"), to_uri=URI)
    assert carriers_of(decision) == ["alpha"]
    assert "carrier Gamma: margin 6.67% under the tenant's minimum 7%" in decision.skipped
    refused = route(euro_customer(min_margin="7.5"), to_uri=URI)
    assert (refused.code, refused.outcome) == (503, "no_profitable_route")
    assert "carrier Alpha: margin 7.41% under the tenant's minimum 7.5%" in refused.skipped


def test_margins_without_the_exchange_rate_leave_the_carrier_out():
    decision = route(euro_customer(fx={}), to_uri=URI)
    assert carriers_of(decision) == ["gamma"]
    assert (
        "carrier Alpha: deck deck-1 is in USD, the customer's in EUR, and no exchange rate "
        "for EUR (base USD)"
    ) in decision.skipped


# --- a fixed markup in another currency --------------------------------------------------------


def fixed_markup(fx=FX):  # type: ignore[no-untyped-def]
    acme = TenantRow(1, "Acme", pricing="fixed", markup=D("0.002"), pricing_currency="EUR")
    return lcr_table(
        deck(1, rate("33", "0.0100"), carrier=1, currency="USD"),
        deck(3, rate("33", "0.0120"), carrier=3, currency="EUR"),
        tenants=(acme,),
        fx=fx,
    )


def test_a_fixed_markup_is_converted_into_the_decks_currency():
    decision = route(fixed_markup(), to_uri=URI)
    sells = {p.name: (p.sell.rate, p.currency) for p in decision.pricing.carriers if p.sell}
    # 0.002 EUR = 0.00216 USD: 0.0100 + 0.00216; Gamma's deck is in EUR: 0.012 + 0.002.
    assert sells == {"Alpha": (D("0.012160"), "USD"), "Gamma": (D("0.014000"), "EUR")}
    alpha = next(p for p in decision.pricing.carriers if p.name == "Alpha")
    assert alpha.conversions[0] == "markup 0.002 EUR = 0.002160 USD at 1 EUR = 1.08 USD"
    c4 = orjson.loads(answer_bytes(decision))["rtjson"]["routes"][0]["c4"]
    assert (c4["rate"], c4["currency"], c4["sell"]) == ("0.0100", "USD", "0.012160")


def test_a_converted_markup_is_rounded_half_up_once():
    # 0.002 EUR in USD at 1.08, then base EUR: 0.002 USD = 0.00185185... EUR.
    acme = TenantRow(1, "Acme", pricing="fixed", markup=D("0.002"), pricing_currency="USD")
    tbl = lcr_table(
        deck(3, rate("33", "0.0120"), carrier=3, currency="EUR"),
        tenants=(acme,),
        fx={"EUR": "1.08"},
    )
    (gamma,) = [p for p in route(tbl, to_uri=URI).pricing.carriers if p.sell]
    assert gamma.sell.rate == D("0.013852")  # 0.0138518518... half up


def test_a_fixed_markup_without_the_exchange_rate_leaves_the_carrier_out_as_before():
    decision = route(fixed_markup(fx={}), to_uri=URI)
    assert carriers_of(decision) == ["gamma"]
    assert "carrier Alpha: deck deck-1 is in USD, the markup in EUR" in decision.skipped


# --- a new table with other exchange rates -----------------------------------------------------


@pytest.mark.parametrize("routed_before", [True, False])
def test_a_patch_with_new_exchange_rates_forgets_the_remembered_outcomes(routed_before):  # type: ignore[no-untyped-def]
    rows = three_currencies_rows()
    old = build_table(rows)
    if routed_before:  # an outcome remembered by the old table
        assert carriers_of(route(old, to_uri=URI)) == ["beta", "alpha", "gamma"]
        assert old.lcr_memo
    # EUR at 1.20: Alpha's 0.0100 EUR is 0.012 USD, still before Gamma's 0.012065.
    new = patch_table(old, Patch(small=with_fx(rows, EUR="1.20", GBP="1.27")), version=2)
    assert new.lcr_memo == {}
    assert new.fx == {"USD": 1, "EUR": Fraction(6, 5), "GBP": Fraction(127, 100)}
    assert carriers_of(route(new, to_uri=URI)) == ["beta", "alpha", "gamma"]
    # EUR at 1.25: 0.0125 USD, after Gamma.
    newer = patch_table(new, Patch(small=with_fx(rows, EUR="1.25", GBP="1.27")), version=3)
    assert carriers_of(route(newer, to_uri=URI)) == ["beta", "gamma", "alpha"]
    # An exchange rate removed: Alpha left out.
    gone = patch_table(newer, Patch(small=with_fx(rows, GBP="1.27")), version=4)
    assert carriers_of(route(gone, to_uri=URI)) == ["beta", "gamma"]


def with_fx(rows: TableRows, **rates: str) -> TableRows:
    return dataclasses.replace(
        rows, exchange_rates=tuple((code, Fraction(D(value))) for code, value in rates.items())
    )
