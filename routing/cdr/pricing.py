"""What an answered call costs and brings: its duration billed by a rate's terms.

The answer's route carries the carrier's rate and the customer's (routing/engine/rtjson.py:
`rate`, `fee`, `inc`; `sell`, `sfee`, `sinc`); the call record keeps the last attempt's
(the one that answered), and the ingester prices the call here:

- the duration counts in whole seconds, a started second as a whole one (30.2 s: 31 s);
- billed seconds: none for a call of 0 s; else at least the initial increment, then whole
  next increments (30/6: 31 s bills 36 s, 12 s bills 30 s; 1/1: the seconds themselves);
- amount = connect fee + rate per minute x billed seconds / 60, rounded half up to 6
  decimal places (the decks' precision). The fee is due on every answered call.

Only answered calls are priced (a failed attempt costs nothing here). The margin is
revenue - cost, in the one currency of both (margin protection leaves out a carrier whose
deck is in another currency than the customer's).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import NamedTuple

PLACES = Decimal("0.000001")
SIXTY = Decimal(60)


class Terms(NamedTuple):
    """A rate as the answer gave it: per minute, connect fee, increments (seconds)."""

    rate: Decimal
    fee: Decimal = Decimal(0)
    initial: int = 1
    next: int = 1


def billed_seconds(duration_ms: int, initial: int, next_: int) -> int:
    seconds = -(-duration_ms // 1000)  # a started second counts whole
    if seconds <= 0:
        return 0
    if seconds <= initial:
        return initial
    return initial + -(-(seconds - initial) // next_) * next_


def charge(terms: Terms, duration_ms: int) -> tuple[int, Decimal]:
    """(billed seconds, amount) of an answered call of duration_ms under these terms."""
    billed = billed_seconds(duration_ms, terms.initial, terms.next)
    amount = terms.fee + terms.rate * billed / SIXTY
    return billed, amount.quantize(PLACES, rounding=ROUND_HALF_UP)


__all__ = ["Terms", "billed_seconds", "charge"]
