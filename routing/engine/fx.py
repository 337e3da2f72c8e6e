"""Currency conversion for least-cost routing: pure, no Django.

The operator keeps an exchange rate per currency: what one unit of it is worth in the base
currency (the setting C4ROUTER_BASE_CURRENCY; its own rate is 1 by definition). The table
holds them as fractions (table.fx: currency -> Fraction, exact, the base at 1), and an
amount goes from one currency to another through the base: amount * rate(from) / rate(to).
Nothing here rounds: a converted amount is a Fraction, rounded half up to six places only
where it is shown (six()).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from fractions import Fraction

ONE = Fraction(1)
_MICRO = 10**6


def convert(
    amount: int | Fraction | Decimal, source: str, target: str, fx: Mapping[str, Fraction]
) -> Fraction | None:
    """`amount` in `source` as an amount in `target`, exactly (None: an exchange rate
    is missing)."""
    if source == target:
        return Fraction(amount)
    rate_from, rate_to = fx.get(source), fx.get(target)
    if rate_from is None or rate_to is None:
        return None
    return Fraction(amount) * rate_from / rate_to


def missing(fx: Mapping[str, Fraction], *currencies: str) -> str:
    """The currencies among these that have no exchange rate, as people read them:
    "EUR", "EUR and GBP"."""
    lacking = sorted({currency for currency in currencies if currency not in fx})
    return " and ".join(lacking)


def six(value: Fraction) -> str:
    """A non-negative amount rounded half up to six places: '0.010800'."""
    micro = (value.numerator * _MICRO * 2 + value.denominator) // (2 * value.denominator)
    return f"{micro // _MICRO}.{micro % _MICRO:06d}"


def rate_text(rate: Fraction) -> str:
    """An exchange rate as the operator typed it (a Decimal's digits: exact): '1.08'."""
    text = format(
        (Decimal(rate.numerator) / Decimal(rate.denominator)).normalize(), "f"
    )  # (a stored rate has at most 20 digits: exact in Decimal's 28)
    return text


def explain(
    amount: Decimal | Fraction, source: str, target: str, fx: Mapping[str, Fraction], base: str
) -> str:
    """A conversion for the route tester: "0.01 EUR = 0.010800 USD at 1 EUR = 1.08 USD"
    (the converted amount rounded half up to six places; through the base, both rates)."""
    converted = convert(amount, source, target, fx)
    assert converted is not None
    shown = format(amount.normalize(), "f") if isinstance(amount, Decimal) else six(amount)
    rates = [f"1 {currency} = {rate_text(fx[currency])} {base}"
             for currency in (source, target) if currency != base]  # fmt: skip
    return f"{shown} {source} = {six(converted)} {target} at {', '.join(rates)}"


__all__ = ["ONE", "convert", "explain", "missing", "rate_text", "six"]
