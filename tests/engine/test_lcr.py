"""Least-cost routing in the engine (no database): rates, ordering, bands, margins."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from routing.engine.rates import DeckRow, RateRow, build_deck, find_rate
from routing.engine.rtjson import answer_bytes
from routing.engine.table import CarrierRow, GatewayRow, TenantRow

from .builders import NOW, base_rows, build_table, gateway_names, route, rule, to_carrier, to_gw
from .test_rates import MOMENT, rate_rows

ANSWER = Draft202012Validator(
    json.loads((Path(__file__).parents[1] / "data" / "rtjson-answer.schema.json").read_text())
)
CALLED = "0612345678"  # the PBX's national number: 33612345678 in E.164
D = Decimal
LONG_AGO = NOW - timedelta(days=365)


def rate(prefix: str, value: str, *, start=LONG_AGO, until=None) -> RateRow:  # type: ignore[no-untyped-def]
    return RateRow(prefix, D(value), start, until)


def deck(deck_id: int, *rates: RateRow, carrier=None, tenant=None, currency="USD") -> DeckRow:  # type: ignore[no-untyped-def]
    return DeckRow(deck_id, f"deck-{deck_id}", currency, carrier, tenant, tuple(rates))


def lcr_rows(*decks: DeckRow, rule_fields=None, targets=None, tenants=None, fx=None,  # type: ignore[no-untyped-def]
             base="USD"):  # fmt: skip
    """Carriers Alpha (1: gateways alpha-1, alpha-2), Beta (2: beta-1), Gamma (3:
    gamma-1), all three targets of one rule for 33 (order 0, unless `targets`); `fx`:
    exchange rates, {"EUR": "1.08"} (what one unit is worth in `base`)."""
    rows = base_rows()
    fields = {"mode": "lcr", **(rule_fields or {})}
    return dataclasses.replace(
        rows,
        carriers=(*rows.carriers, CarrierRow(3, "Gamma")),
        gateways=(*rows.gateways, GatewayRow(4, 3, "gamma-1", "192.0.2.30")),
        tenants=tenants or rows.tenants,
        rules=(
            rule(1, "33", *(targets or (to_carrier(1), to_carrier(2), to_carrier(3))), **fields),
        ),
        rate_decks=decks,
        exchange_rates=tuple((code, Fraction(D(value))) for code, value in (fx or {}).items()),
        base_currency=base,
    )


def lcr_table(*decks: DeckRow, **fields):  # type: ignore[no-untyped-def]
    """The table of lcr_rows()."""
    return build_table(lcr_rows(*decks, **fields))


def carriers_of(decision) -> list[str]:  # type: ignore[no-untyped-def]
    names = []
    for name in gateway_names(decision):
        carrier = name.split("-")[0]
        if carrier not in names:
            names.append(carrier)
    return names


# --- find_rate --------------------------------------------------------------------------------


def test_find_rate_takes_the_longest_prefix_in_effect():
    book = build_deck(
        deck(
            1,
            rate("33", "0.01"),
            rate("336", "0.05"),
            rate("3361", "0.09", start=NOW + timedelta(1)),
        )
    )
    assert find_rate(book, "33612345678", NOW).rate == D("0.05")  # 3361 not yet in effect
    assert find_rate(book, "33612345678", NOW + timedelta(2)).rate == D("0.09")
    assert find_rate(book, "33112345678", NOW).rate == D("0.01")
    assert find_rate(book, "4420", NOW) is None


def test_find_rate_future_and_ended_rates():
    book = build_deck(
        deck(
            1,
            rate("44", "0.02"),  # open-ended
            rate(
                "44", "0.01", start=NOW - timedelta(10), until=NOW - timedelta(1)
            ),  # a promo, over
            rate("44", "0.03", start=NOW + timedelta(5)),  # an increase, announced
        )
    )
    assert find_rate(book, "4420", NOW).rate == D("0.02")
    assert find_rate(book, "4420", NOW - timedelta(5)).rate == D("0.01")
    assert find_rate(book, "4420", NOW + timedelta(6)).rate == D("0.03")
    ended = build_deck(deck(2, rate("44", "0.01", until=NOW)))
    assert find_rate(ended, "4420", NOW) is None  # effective_until is excluded


# --- ordering ---------------------------------------------------------------------------------


def test_lcr_orders_carriers_by_their_rate_for_the_number():
    tbl = lcr_table(
        deck(1, rate("33", "0.0300"), carrier=1),
        deck(2, rate("33", "0.0100"), carrier=2),
        deck(3, rate("33", "0.0200"), carrier=3),
    )
    decision = route(tbl, to_uri=f"sip:{CALLED}@x")
    assert decision.code == 200
    assert carriers_of(decision) == ["beta", "gamma", "alpha"]


def test_lcr_uses_each_decks_longest_prefix():
    tbl = lcr_table(
        deck(1, rate("33", "0.005"), rate("336", "0.09"), carrier=1),  # mobile costs more
        deck(2, rate("33", "0.01"), carrier=2),
        deck(3, rate("3361", "0.02"), carrier=3),
    )
    assert carriers_of(route(tbl, to_uri=f"sip:{CALLED}@x")) == ["beta", "gamma", "alpha"]
    # A fixed-line number: Alpha's 33 applies, Gamma has no rate for it.
    fixed = route(tbl, to_uri="sip:0123456789@x")
    assert carriers_of(fixed) == ["alpha", "beta"]
    assert "carrier Gamma: no rate for 33123456789 in deck deck-3" in fixed.skipped


def test_a_carrier_without_a_rate_or_deck_is_left_out():
    tbl = lcr_table(deck(2, rate("44", "0.01"), carrier=2), deck(3, rate("33", "0.02"), carrier=3))
    decision = route(tbl, to_uri=f"sip:{CALLED}@x")
    assert carriers_of(decision) == ["gamma"]
    assert "carrier Alpha: no rate deck" in decision.skipped
    assert "carrier Beta: no rate for 33612345678 in deck deck-2" in decision.skipped


def test_no_carrier_with_a_rate_is_temporarily_unavailable():
    decision = route(lcr_table(), to_uri=f"sip:{CALLED}@x")
    assert decision.code == 480
    assert "carrier Alpha: no rate deck" in decision.skipped


def test_equal_rates_keep_the_target_order():
    same = [deck(i, rate("33", "0.01"), carrier=i) for i in (1, 2, 3)]
    tbl = lcr_table(
        *same, targets=(to_carrier(1, order=2), to_carrier(2, order=0), to_carrier(3, order=1))
    )
    assert carriers_of(route(tbl, to_uri=f"sip:{CALLED}@x")) == ["beta", "gamma", "alpha"]


def test_equal_rates_and_order_share_by_weight():
    same = [deck(i, rate("33", "0.01"), carrier=i) for i in (1, 2)]
    tbl = lcr_table(*same, targets=(to_carrier(1, weight=1), to_carrier(2, weight=1000)))
    firsts = {carriers_of(route(tbl, seed=seed, to_uri=f"sip:{CALLED}@x"))[0] for seed in range(30)}
    assert "beta" in firsts  # weight 1000 to 1: Beta comes first almost always
    counts = [carriers_of(route(tbl, seed=s, to_uri=f"sip:{CALLED}@x"))[0] for s in range(200)]
    assert counts.count("beta") > 150


def test_a_gateway_target_is_priced_by_its_carrier():
    tbl = lcr_table(
        deck(1, rate("33", "0.01"), carrier=1),
        deck(2, rate("33", "0.02"), carrier=2),
        targets=(to_gw(3), to_gw(2)),
    )
    assert gateway_names(route(tbl, to_uri=f"sip:{CALLED}@x")) == ["alpha-2", "beta-1"]


def test_priority_mode_ignores_the_rates():
    tbl = lcr_table(
        deck(1, rate("33", "0.03"), carrier=1),
        deck(2, rate("33", "0.01"), carrier=2),
        rule_fields={"mode": "priority"},
        targets=(to_carrier(1, order=0), to_carrier(2, order=1), to_carrier(3, order=2)),
    )
    decision = route(tbl, to_uri=f"sip:{CALLED}@x")
    assert carriers_of(decision) == ["alpha", "beta", "gamma"]  # Gamma has no rate: kept
    assert decision.pricing is None
    assert "rate" not in orjson.loads(answer_bytes(decision))["rtjson"]["routes"][0]["c4"]


def test_a_future_rate_reorders_at_its_time():
    tbl = lcr_table(
        deck(1, rate("33", "0.03"), rate("33", "0.005", start=NOW + timedelta(hours=1)), carrier=1),
        deck(2, rate("33", "0.01"), carrier=2),
    )
    assert carriers_of(route(tbl, to_uri=f"sip:{CALLED}@x")) == ["beta", "alpha"]
    later = route(tbl, now=NOW + timedelta(hours=2), to_uri=f"sip:{CALLED}@x")
    assert carriers_of(later) == ["alpha", "beta"]


# --- bands ------------------------------------------------------------------------------------


def test_lcr_band_treats_close_rates_as_equal():
    decks = (
        deck(1, rate("33", "0.0100"), carrier=1),
        deck(2, rate("33", "0.0104"), carrier=2),  # within 5% of Alpha
        deck(3, rate("33", "0.0090"), carrier=3),  # cheapest, but its order is last
    )
    targets = (to_carrier(1, order=2), to_carrier(2, order=0), to_carrier(3, order=9))
    plain = lcr_table(*decks, targets=targets)
    assert carriers_of(route(plain, to_uri=f"sip:{CALLED}@x")) == ["gamma", "alpha", "beta"]
    banded = lcr_table(
        *decks, targets=targets, rule_fields={"mode": "lcr_band", "band_percent": D(20)}
    )
    # 0.0090 * 1.2 = 0.0108: all three in one band, by order.
    assert carriers_of(route(banded, to_uri=f"sip:{CALLED}@x")) == ["beta", "alpha", "gamma"]
    narrow = lcr_table(
        *decks, targets=targets, rule_fields={"mode": "lcr_band", "band_percent": D(5)}
    )
    # 0.0090 * 1.05 = 0.00945: Gamma alone; then Alpha's band (0.0105) holds Beta, by order.
    assert carriers_of(route(narrow, to_uri=f"sip:{CALLED}@x")) == ["gamma", "beta", "alpha"]


# --- margin protection ------------------------------------------------------------------------


def margin_table(sell: str = "0.015", min_margin: str = "0", sell_prefix="33", **tenant_fields):  # type: ignore[no-untyped-def]
    acme = TenantRow(1, "Acme", min_margin_percent=D(min_margin), **tenant_fields)
    return lcr_table(
        deck(1, rate("33", "0.0200"), carrier=1),
        deck(2, rate("33", "0.0100"), carrier=2),
        deck(3, rate("33", "0.0120"), carrier=3),
        deck(9, rate(sell_prefix, sell), tenant=1),
        tenants=(acme, TenantRow(2, "Globex")),
    )


def test_a_carrier_costing_more_than_the_customer_pays_is_left_out():
    decision = route(margin_table(), to_uri=f"sip:{CALLED}@x")
    assert decision.code == 200
    assert carriers_of(decision) == ["beta", "gamma"]
    assert "carrier Alpha: rate 0.0200 above the customer's 0.015" in decision.skipped
    margins = {p.name: p.margin for p in decision.pricing.carriers}
    assert margins == {"Beta": D("33.33"), "Gamma": D("20.00"), "Alpha": D("-33.33")}


def test_a_carrier_under_the_minimum_margin_is_left_out():
    decision = route(margin_table(min_margin="25"), to_uri=f"sip:{CALLED}@x")
    assert carriers_of(decision) == ["beta"]
    assert "carrier Gamma: margin 20.00% under the tenant's minimum 25%" in decision.skipped


def test_no_profitable_route_is_refused_with_the_tenants_code():
    decision = route(margin_table(sell="0.005"), to_uri=f"sip:{CALLED}@x")
    assert (decision.code, decision.reason) == (503, "No profitable route")
    assert "no profitable route" in decision.why
    custom = margin_table(sell="0.005", no_profit_code=403, no_profit_reason="Rate too low")
    answer = orjson.loads(answer_bytes(route(custom, to_uri=f"sip:{CALLED}@x")))
    assert answer["rtjson"]["code"] == 403
    assert answer["rtjson"]["reason"] == "Rate too low"
    assert not list(ANSWER.iter_errors(answer))


def test_a_number_without_a_customer_rate_is_refused():
    tbl = margin_table(sell_prefix="336")  # mobiles only
    assert route(tbl, to_uri=f"sip:{CALLED}@x").code == 200
    decision = route(tbl, to_uri="sip:0123456789@x")
    assert decision.code == 503
    assert "no customer rate for 33123456789 in deck deck-9" in decision.why


def test_a_deck_in_another_currency_is_left_out_of_margins():
    acme = TenantRow(1, "Acme")
    tbl = lcr_table(
        deck(1, rate("33", "0.001"), carrier=1, currency="EUR"),
        deck(2, rate("33", "0.010"), carrier=2),
        deck(9, rate("33", "0.015"), tenant=1),
        tenants=(acme,),
    )
    decision = route(tbl, to_uri=f"sip:{CALLED}@x")
    assert carriers_of(decision) == ["beta"]
    assert (
        "carrier Alpha: deck deck-1 is in EUR, the customer's in USD, and no exchange rate "
        "for EUR (base USD)"
    ) in decision.skipped


def test_each_route_carries_its_rate_and_the_customer_rate():
    answer = orjson.loads(answer_bytes(route(margin_table(), to_uri=f"sip:{CALLED}@x")))
    assert not list(ANSWER.iter_errors(answer))
    c4s = [r["c4"] for r in answer["rtjson"]["routes"]]
    assert [(c["rate"], c["currency"], c["sell"]) for c in c4s] == [
        ("0.0100", "USD", "0.015"),
        ("0.0120", "USD", "0.015"),
    ]


def test_each_route_carries_the_billing_terms_the_records_price_with():
    # A connect fee and increments ride as fee/inc (the carrier's) and sfee/sinc (the
    # customer's); the defaults (no fee, 1/1) are left out of the answer.
    tbl = lcr_table(
        deck(1, RateRow("33", D("0.0100"), LONG_AGO, None, D("0.05"), 30, 6), carrier=1),
        deck(2, rate("33", "0.0120"), carrier=2),
        deck(9, RateRow("33", D("0.02"), LONG_AGO, None, D("0.1"), 60, 60), tenant=1),
        tenants=(TenantRow(1, "Acme"), TenantRow(2, "Globex")),
    )
    answer = orjson.loads(answer_bytes(route(tbl, to_uri=f"sip:{CALLED}@x")))
    assert not list(ANSWER.iter_errors(answer))
    routes = answer["rtjson"]["routes"]  # Alpha's two gateways, then Beta's
    first, second = routes[0]["c4"], routes[-1]["c4"]
    assert {k: first[k] for k in ("rate", "fee", "inc", "sell", "sfee", "sinc")} == {
        "rate": "0.0100", "fee": "0.05", "inc": "30/6",
        "sell": "0.02", "sfee": "0.1", "sinc": "60/60",
    }  # fmt: skip
    assert "fee" not in second and "inc" not in second
    assert (second["sfee"], second["sinc"]) == ("0.1", "60/60")


def test_without_a_sell_deck_there_is_no_margin_check():
    tbl = lcr_table(deck(1, rate("33", "9.99"), carrier=1))
    decision = route(tbl, to_uri=f"sip:{CALLED}@x")
    assert carriers_of(decision) == ["alpha"]
    c4 = orjson.loads(answer_bytes(decision))["rtjson"]["routes"][0]["c4"]
    assert (c4["rate"], c4["sell"]) == ("9.99", None)


# --- pricing policy (no sell deck: cost plus a markup) ----------------------------------------


def policy_table(pricing: str, markup: str, min_margin: str = "0", currency: str = "", fx=None):  # type: ignore[no-untyped-def]
    acme = TenantRow(
        1, "Acme", min_margin_percent=D(min_margin), pricing=pricing, markup=D(markup),
        pricing_currency=currency,
    )  # fmt: skip
    return lcr_table(
        deck(1, rate("33", "0.0200"), carrier=1),
        deck(2, rate("33", "0.0100"), carrier=2),
        deck(3, RateRow("33", D("0.0120"), LONG_AGO, None, D("0.05")), carrier=3, currency="EUR"),
        tenants=(acme, TenantRow(2, "Globex")),
        fx=fx,
    )


def test_a_percent_policy_prices_each_route_from_its_cost():
    # Gamma's 0.012 EUR is 0.01296 USD at 1.08: between Beta and Alpha.
    decision = route(policy_table("percent", "20", fx={"EUR": "1.08"}), to_uri=f"sip:{CALLED}@x")
    assert decision.code == 200
    assert carriers_of(decision) == ["beta", "gamma", "alpha"]  # cheapest first, as before
    assert decision.pricing.policy == "cost + 20%"
    sells = {p.name: (p.sell.rate, p.sell.connect_fee, p.margin) for p in decision.pricing.carriers}
    assert sells == {
        "Beta": (D("0.012"), D(0), D("16.67")),
        "Gamma": (D("0.0144"), D("0.06"), D("16.67")),  # the connect fee marked up too
        "Alpha": (D("0.024"), D(0), D("16.67")),
    }
    answer = orjson.loads(answer_bytes(decision))
    assert not list(ANSWER.iter_errors(answer))
    c4s = [r["c4"] for r in answer["rtjson"]["routes"]]
    assert [(c["rate"], c["currency"], c["sell"]) for c in c4s] == [
        ("0.0100", "USD", "0.012000"),
        ("0.0120", "EUR", "0.014400"),
        ("0.0200", "USD", "0.024000"),
        ("0.0200", "USD", "0.024000"),  # Alpha's second gateway
    ]


def test_a_percent_policy_under_the_minimum_margin_refuses_the_call():
    # cost + 20% leaves 16.67% of the customer's rate: under a 20% minimum, no carrier.
    decision = route(policy_table("percent", "20", min_margin="20"), to_uri=f"sip:{CALLED}@x")
    assert (decision.code, decision.outcome) == (503, "no_profitable_route")
    assert "carrier Beta: margin 16.67% under the tenant's minimum 20%" in decision.skipped


def test_a_fixed_policy_keeps_the_carriers_that_leave_the_minimum_margin():
    # + 0.003/min: Beta 0.013 (23.08%), Alpha 0.023 (13.04%); Gamma's deck is in EUR.
    decision = route(
        policy_table("fixed", "0.003", min_margin="15", currency="USD"), to_uri=f"sip:{CALLED}@x"
    )
    assert carriers_of(decision) == ["beta"]
    assert decision.pricing.policy == "cost + 0.003 USD/min"
    assert "carrier Alpha: margin 13.04% under the tenant's minimum 15%" in decision.skipped
    assert "carrier Gamma: deck deck-3 is in EUR, the markup in USD" in decision.skipped
    assert decision.routes[0].sell.rate == D("0.013")


def test_a_sell_deck_wins_over_a_policy():
    acme = TenantRow(1, "Acme", pricing="percent", markup=D(50))
    tbl = lcr_table(
        deck(2, rate("33", "0.0100"), carrier=2),
        deck(9, rate("33", "0.011"), tenant=1),
        tenants=(acme,),
    )
    decision = route(tbl, to_uri=f"sip:{CALLED}@x")
    assert decision.pricing.policy == ""
    assert decision.routes[0].sell.rate == D("0.011")


# --- outcomes remembered per table ------------------------------------------------------------


def test_numbers_matching_the_same_rates_share_one_priced_outcome_and_others_do_not():
    """_least_cost remembers an outcome by the rates matched: numbers of one prefix are
    priced once per table, a number another prefix of one deck matches is priced anew."""
    tbl = lcr_table(
        deck(1, rate("33", "0.005"), rate("3361", "0.09"), carrier=1),
        deck(2, rate("33", "0.01"), carrier=2),
    )
    first = route(tbl, to_uri="sip:0612345678@x")
    second = route(tbl, to_uri="sip:0612999999@x")  # 3361 again
    other = route(tbl, to_uri="sip:0622345678@x")  # Alpha's 33 now
    assert first.pricing is second.pricing
    assert other.pricing is not first.pricing
    assert carriers_of(first) == carriers_of(second) == ["beta", "alpha"]
    assert carriers_of(other) == ["alpha", "beta"]
    # Each answer still carries its own number; the rates are the outcome's.
    answers = [orjson.loads(answer_bytes(d))["rtjson"]["routes"] for d in (first, second)]
    assert [r["c4"]["to"] for r in answers[0]][:1] == ["33612345678"]
    assert [r["c4"]["to"] for r in answers[1]][:1] == ["33612999999"]
    assert [r["c4"]["rate"] for r in answers[0]] == [r["c4"]["rate"] for r in answers[1]]


def test_an_outcome_naming_the_number_is_not_remembered():
    tbl = lcr_table(deck(1, rate("33", "0.01"), carrier=1), deck(2, rate("336", "0.02"), carrier=2))
    one = route(tbl, to_uri="sip:0123456789@x")
    two = route(tbl, to_uri="sip:0198765432@x")
    assert "carrier Beta: no rate for 33123456789 in deck deck-2" in one.skipped
    assert "carrier Beta: no rate for 33198765432 in deck deck-2" in two.skipped


def test_tenants_under_one_rule_keep_their_own_margins():
    """A global least-cost rule, two tenants with their own sell decks: the same carrier
    rates, each tenant's margins (the outcome is remembered per tenant too)."""
    tbl = lcr_table(
        deck(1, rate("33", "0.0100"), carrier=1),
        deck(2, rate("33", "0.0120"), carrier=2),
        deck(8, rate("33", "0.015"), tenant=1),
        deck(9, rate("33", "0.011"), tenant=2),
    )
    acme = route(tbl, to_uri=f"sip:{CALLED}@x")
    globex = route(tbl, source_ip="10.20.0.5", to_uri="sip:33612345678@x")
    assert carriers_of(acme) == ["alpha", "beta"]
    assert carriers_of(globex) == ["alpha"]
    assert "carrier Beta: rate 0.0120 above the customer's 0.011" in globex.skipped


def test_a_rule_prefix_no_deck_splits_has_one_outcome_from_when_its_rates_started():
    """Every deck's rate for the rule's numbers is its prefix's (no longer prefix under
    33): the numbers share one outcome, from the latest start of those rates on; a call
    at an earlier moment is priced at that moment."""
    tbl = lcr_table(
        deck(1, rate("33", "0.03"), carrier=1),
        deck(2, rate("33", "0.01", start=NOW - timedelta(days=1)), carrier=2),
    )
    first = route(tbl, to_uri="sip:0612345678@x")
    second = route(tbl, to_uri="sip:0198765432@x")
    assert first.pricing is second.pricing
    assert carriers_of(second) == ["beta", "alpha"]
    before = route(tbl, now=NOW - timedelta(days=2), to_uri="sip:0612345678@x")
    assert carriers_of(before) == ["alpha"]  # Beta's rate had not started
    assert carriers_of(route(tbl, to_uri="sip:0155555555@x")) == ["beta", "alpha"]


# --- a rule's points: numbers matching the same rates, found without a lookup ----------------


def test_a_point_remembers_its_outcome_for_the_numbers_under_it():
    """Alpha's deck splits 33 by 3361 and 33612: a number's point is its longest prefix
    any deck holds (33612345678: 33612; 33619999999: 3361; 33700000000: 33). The second
    number of a point gets the point's outcome, every deck unread."""
    tbl = lcr_table(
        deck(1, rate("33", "0.005"), rate("3361", "0.09"), rate("33612", "0.001"), carrier=1),
        deck(2, rate("33", "0.01"), carrier=2),
    )
    calls = {
        "0612345678": ["alpha", "beta"],  # 33612
        "0612999999": ["alpha", "beta"],
        "0619999999": ["beta", "alpha"],  # 3361
        "0618888888": ["beta", "alpha"],
        "0700000000": ["alpha", "beta"],  # 33
        "0711111111": ["alpha", "beta"],
    }
    decisions = {n: route(tbl, to_uri=f"sip:{n}@x") for n in calls}
    assert {n: carriers_of(d) for n, d in decisions.items()} == calls
    plan = tbl.lcr_memo[(1, 1)]
    assert set(plan.points) == {"33", "3361", "33612"}
    assert all(entry is not None for entry in plan.points.values())
    assert plan.points["33612"][2][0] is decisions["0612999999"].pricing
    assert decisions["0612345678"].pricing is decisions["0612999999"].pricing
    assert decisions["0619999999"].pricing is decisions["0618888888"].pricing
    # Alpha's 33 and Beta's 33 again: the matches are those of point 33, one outcome.
    assert decisions["0700000000"].pricing is decisions["0711111111"].pricing


def test_a_points_outcome_ends_when_a_rate_it_read_changes():
    """Point 3361's outcome holds until Beta's announced rate starts; at and after that
    moment the point is priced again, and a call at an earlier moment still gets the
    rates of its moment."""
    later = NOW + timedelta(days=2)
    tbl = lcr_table(
        deck(1, rate("33", "0.005"), rate("3361", "0.02"), carrier=1),
        deck(2, rate("33", "0.01"), rate("33", "0.03", start=later), carrier=2),
    )
    assert carriers_of(route(tbl, to_uri="sip:0612345678@x")) == ["beta", "alpha"]
    since, until, _ = tbl.lcr_memo[(1, 1)].points["3361"]
    assert (since, until) == (LONG_AGO, later)
    assert carriers_of(route(tbl, now=later, to_uri="sip:0612345678@x")) == ["alpha", "beta"]
    assert carriers_of(route(tbl, now=later, to_uri="sip:0619999999@x")) == ["alpha", "beta"]
    assert carriers_of(route(tbl, to_uri="sip:0619999999@x")) == ["beta", "alpha"]


def test_a_rule_with_too_many_prefixes_under_it_looks_each_call_up(monkeypatch):  # type: ignore[no-untyped-def]
    from routing.engine import decide as decide_module

    monkeypatch.setattr(decide_module, "LCR_POINTS_READ", 1)
    tbl = lcr_table(
        deck(1, rate("33", "0.005"), rate("3361", "0.09"), rate("3362", "0.001"), carrier=1),
        deck(2, rate("33", "0.01"), carrier=2),
    )
    assert carriers_of(route(tbl, to_uri="sip:0612345678@x")) == ["beta", "alpha"]
    assert carriers_of(route(tbl, to_uri="sip:0622345678@x")) == ["alpha", "beta"]
    assert tbl.lcr_memo[(1, 1)].points is None


RULE_PREFIXES = st.one_of(
    st.sampled_from(("", "3", "33")), st.text("0123", max_size=4).map(lambda t: "33" + t)
)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(rate_rows(RULE_PREFIXES), min_size=3, max_size=3),
    st.one_of(st.none(), rate_rows(RULE_PREFIXES)),
    st.lists(st.tuples(st.text("0123", min_size=1, max_size=9), MOMENT), min_size=1, max_size=25),
)
def test_calls_through_one_table_answer_as_a_fresh_table_each(buy, sell, calls):  # type: ignore[no-untyped-def]
    """What a table remembers (outcomes by matches, a rule's points and their moments)
    never changes an answer: random decks of three carriers and a customer's, rates past,
    present, ended and announced, numbers and moments in any order, each call answered
    as by a table that never routed a call before."""
    decks = [deck(n + 1, *rows, carrier=n + 1) for n, rows in enumerate(buy)]
    if sell is not None:
        decks.append(deck(9, *sell, tenant=1))
    tbl = lcr_table(*decks)
    for digits, now in calls:
        uri = f"sip:0{digits}@x"
        seen = route(tbl, now=now, to_uri=uri)
        fresh = route(lcr_table(*decks), now=now, to_uri=uri)
        assert answer_bytes(seen) == answer_bytes(fresh), (digits, now)
        assert (seen.why, seen.skipped) == (fresh.why, fresh.skipped), (digits, now)
