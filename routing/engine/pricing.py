"""A tenant's pricing policy (least-cost routing without a sell deck): pure, no Django.

The customer's rate for a route is its carrier's rate for the number plus a markup: a
percentage of it ("percent": cost + 20%) or an amount per minute ("fixed": cost + 0.002
EUR/min, only for carriers whose deck is in that currency). Rounded half up to the decks'
six decimal places. A percentage marks up the connect fee too; a fixed amount is per minute
and leaves the connect fee at cost. Billing increments are the carrier's.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from routing.engine.rates import RateRow

PERCENT = "percent"
FIXED = "fixed"
PLACES = Decimal("0.000001")
HUNDRED = Decimal(100)


def plain(value: Decimal) -> str:
    """0.0100 and 0.010000 both '0.01'; 20.00 '20'."""
    return format(value.normalize(), "f")


def customer_rate(kind: str, markup: Decimal, cost: RateRow) -> RateRow:
    """The customer's rate under the policy for a carrier's matched rate `cost`."""
    if kind == PERCENT:
        factor = (HUNDRED + markup) / HUNDRED
        rate = (cost.rate * factor).quantize(PLACES, ROUND_HALF_UP)
        fee = (cost.connect_fee * factor).quantize(PLACES, ROUND_HALF_UP)
    else:
        rate, fee = (cost.rate + markup).quantize(PLACES, ROUND_HALF_UP), cost.connect_fee
    return cost._replace(rate=rate, connect_fee=fee)


def describe(kind: str, markup: Decimal, currency: str) -> str:
    """ "cost + 20%", "cost + 0.002 EUR/min"."""
    if kind == PERCENT:
        return f"cost + {plain(markup)}%"
    return f"cost + {plain(markup)} {currency}/min"


__all__ = ["FIXED", "PERCENT", "customer_rate", "describe"]
