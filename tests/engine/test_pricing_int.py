"""Least-cost pricing in integers (rates in millionths, RateFacts made once per palette
entry) gives the answers the Decimal arithmetic gave: on random rates, connect fees,
increments, minimum margins, bands and pricing policies, decide() is compared with a
reference written with the Decimal functions (rates.profitable, rates.margin_percent,
pricing.customer_rate) and the answer's strings with str() of the Decimals."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from routing.engine import decide as engine
from routing.engine.pricing import FIXED, PERCENT, customer_price, customer_rate
from routing.engine.rates import (
    DeckRow,
    RateRow,
    margin_percent,
    micro_units,
    profitable,
    rate_facts,
)
from routing.engine.rtjson import answer_bytes
from routing.engine.table import CarrierRow, GatewayRow, TenantRow

from .builders import NOW, base_rows, build_table, rule, to_carrier
from .builders import route as call
from .test_lcr import CALLED, LONG_AGO

NAMES = {1: "Alpha", 2: "Beta", 3: "Gamma"}


def places(top: int, most: int = 6) -> st.SearchStrategy[Decimal]:
    """Decimals of 0 to `top` (exclusive) with 0 to `most` decimal places, trailing zeros
    kept (0.0100 and 0.01 are different texts in an answer)."""
    return st.integers(0, most).flatmap(
        lambda k: st.integers(0, top * 10**k - 1).map(lambda n: Decimal(n).scaleb(-k))
    )


# Rates: often one of a few (ties), else anything of six places.
RATES = st.one_of(st.sampled_from([Decimal("0.0100"), Decimal("0.01"), Decimal("0.012")]),
                  places(2))  # fmt: skip
FEES = st.one_of(st.just(Decimal(0)), st.just(Decimal("0.00")), places(1))
INCS = st.sampled_from([(1, 1), (30, 6), (60, 60)])
PERCENTS = places(101, 2).filter(lambda d: d <= 100)


def row(value: Decimal, fee: Decimal, inc: tuple[int, int]) -> RateRow:
    return RateRow("33", value, LONG_AGO, None, fee, *inc)


def table(carriers, sell, tenant, mode, band):  # type: ignore[no-untyped-def]
    rows = base_rows()
    decks = [DeckRow(i, f"deck-{i}", "USD", carrier_id=i, rates=(r,)) for i, r in carriers]
    if sell is not None:
        decks.append(DeckRow(9, "sell", "USD", tenant_id=1, rates=(sell,)))
    fields = {"mode": mode, "band_percent": band if mode == "lcr_band" else None}
    return build_table(
        dataclasses.replace(
            rows,
            carriers=(*rows.carriers, CarrierRow(3, "Gamma")),
            gateways=(*rows.gateways, GatewayRow(4, 3, "gamma-1", "192.0.2.30")),
            tenants=(tenant, TenantRow(2, "Globex")),
            rules=(rule(1, "33", to_carrier(1), to_carrier(2), to_carrier(3), **fields),),
            rate_decks=tuple(decks),
        )
    )


def reference(carriers, sell, tenant, mode, band):  # type: ignore[no-untyped-def]
    """What the Decimal code decided: {name: (left_out, customer row)}, the groups (sets of
    carrier ids, cheapest first), the refusal."""
    left: dict[str, tuple[str, RateRow | None]] = {}
    kept: list[tuple[Decimal, int]] = []
    mm = tenant.min_margin_percent
    for carrier_id, cost in carriers:
        name, out, sold = NAMES[carrier_id], "", None
        against = None
        if tenant.pricing:
            sold = against = customer_rate(tenant.pricing, tenant.markup, cost)
            if not profitable(cost.rate, sold.rate, mm):
                out = "under"
        elif sell is not None:
            against = sell
            if cost.rate > sell.rate:
                out = f"rate {cost.rate} above the customer's {sell.rate}"
            elif not profitable(cost.rate, sell.rate, mm):
                out = "under"
        if out == "under":
            margin = margin_percent(cost.rate, against.rate)  # type: ignore[union-attr]
            shown = "-" if margin is None else f"{margin}%"
            out = f"margin {shown} under the tenant's minimum {mm}%"
        left[name] = (out, sold)
        if not out:
            kept.append((cost.rate, carrier_id))
    kept.sort()
    groups: list[set[int]] = []
    if mode == "lcr_band":
        rest = kept
        while rest:
            ceiling = rest[0][0] * (100 + band) / 100
            groups.append({c for r, c in rest if r <= ceiling})
            rest = [(r, c) for r, c in rest if r > ceiling]
    else:
        for i, (value, carrier_id) in enumerate(kept):
            if i and value == kept[i - 1][0]:
                groups[-1].add(carrier_id)
            else:
                groups.append({carrier_id})
    refusal = "" if kept else "no carrier leaves the margin (no profitable route)"
    return left, groups, refusal


@settings(max_examples=300, deadline=None)
@given(
    costs=st.lists(st.tuples(RATES, FEES, INCS), min_size=3, max_size=3),
    sell=st.one_of(st.none(), st.tuples(RATES, FEES, INCS)),
    min_margin=PERCENTS,
    policy=st.one_of(
        st.just(("", Decimal(0))),
        st.tuples(st.just(PERCENT), places(1001).filter(lambda d: d <= 1000)),
        st.tuples(st.just(FIXED), places(1)),
    ),
    mode=st.sampled_from(["lcr", "lcr_band"]),
    band=PERCENTS,
)
def test_integer_pricing_decides_as_the_decimal_arithmetic(costs, sell, min_margin, policy,
                                                          mode, band):  # fmt: skip
    carriers = [(i, row(*cost)) for i, cost in enumerate(costs, 1)]
    sell_row = row(*sell) if sell is not None and not policy[0] else None
    currency = "USD" if policy[0] == FIXED else ""
    tenant = TenantRow(1, "Acme", min_margin_percent=min_margin, pricing=policy[0],
                       markup=policy[1], pricing_currency=currency)  # fmt: skip
    tbl = table(carriers, sell_row, tenant, mode, band)
    left, groups, refusal = reference(carriers, sell_row, tenant, mode, band)

    rule_row = engine.find_rule(tbl, 1, "33612345678", "", NOW)
    assert rule_row is not None
    pricing, _, got_groups, got_refusal = engine._least_cost(
        tbl, rule_row, tenant, "33612345678", NOW
    )
    assert got_refusal == refusal
    assert [{t.carrier_id for t in g} for g in got_groups] == groups
    by_name = {p.name: p for p in pricing.carriers}
    for name, (out, sold) in left.items():
        price = by_name[name]
        assert price.left_out == out
        against = sold if sold is not None else sell_row
        expected = None if against is None else margin_percent(price.rate.rate, against.rate)
        assert price.margin == expected
        if sold is not None:  # the customer's rate: the same value and the same text
            assert price.sell == sold
            assert (str(price.sell.rate), str(price.sell.connect_fee)) == (
                str(sold.rate), str(sold.connect_fee))  # fmt: skip
    # The carriers cheapest first (ties by name), as the Decimal sort put them.
    order = sorted(carriers, key=lambda item: (item[1].rate, NAMES[item[0]]))
    assert [p.name for p in pricing.carriers] == [NAMES[i] for i, _ in order]

    # The answer's strings are str() of the Decimals.
    decision = call(tbl, to_uri=f"sip:{CALLED}@x")
    if not decision.routed:
        return
    for route in orjson.loads(answer_bytes(decision))["rtjson"]["routes"]:
        c4 = route["c4"]
        cost = dict(carriers)[c4["carrier"]]
        sold = left[NAMES[c4["carrier"]]][1] or sell_row
        assert c4["rate"] == str(cost.rate)
        assert c4.get("fee") == (str(cost.connect_fee) if cost.connect_fee else None)
        inc = f"{cost.initial_increment}/{cost.next_increment}"
        assert c4.get("inc") == (inc if inc != "1/1" else None)
        assert c4["sell"] == (str(sold.rate) if sold is not None else None)
        if sold is not None:
            assert c4.get("sfee") == (str(sold.connect_fee) if sold.connect_fee else None)


@settings(max_examples=500, deadline=None)
@given(value=RATES, fee=FEES, inc=INCS, kind=st.sampled_from([PERCENT, FIXED]),
       markup=places(1001))  # fmt: skip
def test_customer_price_is_customer_rate(value, fee, inc, kind, markup):
    cost = row(value, fee, inc)
    for _ in range(2):  # computed, then from the cache
        sold, facts = customer_price(kind, markup, cost, rate_facts(cost))
        expected = customer_rate(kind, markup, cost)
        assert sold == expected
        assert (str(sold.rate), str(sold.connect_fee)) == (
            str(expected.rate), str(expected.connect_fee))  # fmt: skip
        assert facts == rate_facts(expected)


@given(value=places(10**6), other=places(10**6), mm=PERCENTS)
def test_millionths_order_and_margins_as_decimals(value, other, mm):
    a, b = micro_units(value), micro_units(other)
    assert (a < b, a == b) == (value < other, value == other)
    num, den = mm.as_integer_ratio()
    assert ((b - a) * 100 * den >= b * num) == profitable(value, other, mm)
