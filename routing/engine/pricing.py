"""A tenant's pricing policy (least-cost routing without a sell deck): pure, no Django.

The customer's rate for a route is its carrier's rate for the number plus a markup: a
percentage of it ("percent": cost + 20%) or an amount per minute ("fixed": cost + 0.002
EUR/min; for a carrier whose deck is in another currency, the amount converted into the
deck's exactly, routing.engine.fx: a Fraction). Rounded half up to the decks' six decimal
places. A percentage marks up the connect fee too; a fixed amount is per minute
and leaves the connect fee at cost. Billing increments are the carrier's.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from functools import lru_cache

from routing.engine.rates import MICRO, RateFacts, RateRow, rate_facts

PERCENT = "percent"
FIXED = "fixed"
PLACES = Decimal("0.000001")
HUNDRED = Decimal(100)


def plain(value: Decimal) -> str:
    """0.0100 and 0.010000 both '0.01'; 20.00 '20'."""
    return format(value.normalize(), "f")


def customer_rate(kind: str, markup: Decimal | Fraction, cost: RateRow) -> RateRow:
    """The customer's rate under the policy for a carrier's matched rate `cost` (a fixed
    markup converted into the deck's currency: a Fraction)."""
    if isinstance(markup, Fraction):  # (fixed only) cost + markup, half up to six places
        exact = Fraction(cost.rate) + markup
        micro = _half_up(exact.numerator * MICRO, exact.denominator)
        return cost._replace(rate=Decimal(_text(micro)))
    if kind == PERCENT:
        factor = (HUNDRED + markup) / HUNDRED
        rate = (cost.rate * factor).quantize(PLACES, ROUND_HALF_UP)
        fee = (cost.connect_fee * factor).quantize(PLACES, ROUND_HALF_UP)
    else:
        rate, fee = (cost.rate + markup).quantize(PLACES, ROUND_HALF_UP), cost.connect_fee
    return cost._replace(rate=rate, connect_fee=fee)


def customer_price(
    kind: str, markup: Decimal | Fraction, cost: RateRow, facts: RateFacts
) -> tuple[RateRow, RateFacts]:
    """customer_rate() and its RateFacts, computed in integers (millionths) from the cost's
    facts, once per (facts, kind, markup): the same customer rate as customer_rate()
    (tests/engine/test_pricing_int.py)."""
    terms = _SOLD.get((facts, kind, markup))
    if terms is None:
        if len(_SOLD) >= _SOLD_MAX:
            _SOLD.clear()
        terms = _SOLD[(facts, kind, markup)] = _sold_terms(kind, markup, cost, facts)
    rate, fee, sold = terms
    if fee is None:  # the connect fee at cost
        fee = cost[4]
    return _make((cost[0], rate, cost[2], cost[3], fee, cost[5], cost[6])), sold


# (cost facts, kind, markup) -> (the customer's rate, fee (None: the cost's), RateFacts):
# a deck holds a few thousand distinct terms, a policy one markup.
# (A converted fixed markup is a Fraction: a new exchange rate is another key.)
_SOLD: dict[
    tuple[RateFacts, str, Decimal | Fraction], tuple[Decimal, Decimal | None, RateFacts]
] = {}
_SOLD_MAX = 100_000
_make = RateRow._make


def _sold_terms(
    kind: str, markup: Decimal | Fraction, cost: RateRow, facts: RateFacts
) -> tuple[Decimal, Decimal | None, RateFacts]:
    num, den = markup.as_integer_ratio()
    rate, fee = facts.micro, facts.fee_micro
    if rate.__class__ is not int or fee.__class__ is not int or rate < 0 or fee < 0 or num < 0:
        # Past six places or below zero (no deck or policy holds either): in Decimal.
        sold = customer_rate(kind, markup, cost)
        return sold.rate, sold.connect_fee if kind == PERCENT else None, rate_facts(sold)
    if kind == PERCENT:  # rate * (100 + markup) / 100, rounded half up to millionths
        scale = 100 * den
        rate = _half_up(rate * (scale + num), scale)
        fee = _half_up(fee * (scale + num), scale)
        rate_text, fee_text = _text(rate), _text(fee)
        facts = RateFacts(rate, rate_text, fee, fee_text if fee else "", facts.inc_text)
        return Decimal(rate_text), Decimal(fee_text), facts
    # rate + markup, rounded half up to millionths; the fee at cost
    rate = _half_up(rate * den + num * MICRO, den)
    rate_text = _text(rate)
    return Decimal(rate_text), None, facts._replace(micro=rate, text=rate_text)


def _half_up(num: int, den: int) -> int:
    """num / den rounded half up (num >= 0, den > 0)."""
    return (2 * num + den) // (2 * den)


def _text(micro: int) -> str:
    """str() of the Decimal quantized to six places (micro >= 0): '0.012000'."""
    return f"{micro // MICRO}.{micro % MICRO:06d}"


@lru_cache(maxsize=256)
def describe(kind: str, markup: Decimal, currency: str) -> str:
    """ "cost + 20%", "cost + 0.002 EUR/min"."""
    if kind == PERCENT:
        return f"cost + {plain(markup)}%"
    return f"cost + {plain(markup)} {currency}/min"


__all__ = ["FIXED", "PERCENT", "customer_price", "customer_rate", "describe"]
