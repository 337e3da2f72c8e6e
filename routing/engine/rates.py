"""Rate decks as the engine reads them (least-cost routing): pure data, no Django.

A deck (a carrier's buy rates or a tenant's sell rates) is a dict from prefix (E.164
digits) to that prefix's rates, the latest start first, and the prefix lengths the deck
has, longest first. find_rate() gives the rate of a called number at the call's time:
the longest prefix holding a rate in effect then (effective_from <= now < effective_until,
no end: open-ended). A prefix whose rates are all past or future falls through to a
shorter one. Cost: one dict probe per prefix length of the deck (a slice and a lookup),
at most 20.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

ZERO = Decimal(0)
HUNDRED = Decimal(100)


class RateRow(NamedTuple):
    prefix: str
    rate: Decimal  # per minute, in the deck's currency
    effective_from: datetime
    effective_until: datetime | None = None
    connect_fee: Decimal = ZERO
    initial_increment: int = 1
    next_increment: int = 1


@dataclass(frozen=True, slots=True)
class DeckRow:
    """One deck as the loader (or a test) gives it: exactly one of carrier_id, tenant_id."""

    id: int
    name: str
    currency: str
    carrier_id: int | None = None
    tenant_id: int | None = None
    rates: tuple[RateRow, ...] = ()


@dataclass(frozen=True, slots=True)
class Deck:
    id: int
    name: str
    currency: str
    by_prefix: dict[str, tuple[RateRow, ...]]
    lengths: tuple[int, ...]  # longest first

    @property
    def count(self) -> int:
        return sum(len(rates) for rates in self.by_prefix.values())


def build_deck(row: DeckRow) -> Deck:
    grouped: dict[str, list[RateRow]] = {}
    for rate in row.rates:
        grouped.setdefault(rate.prefix, []).append(rate)
    by_prefix = {
        prefix: tuple(sorted(rates, key=lambda r: r.effective_from, reverse=True))
        for prefix, rates in grouped.items()
    }
    lengths = tuple(sorted({len(prefix) for prefix in by_prefix}, reverse=True))
    return Deck(row.id, row.name, row.currency, by_prefix, lengths)


def find_rate(deck: Deck, number: str, now: datetime) -> RateRow | None:
    """The rate of the called number (E.164 digits) at `now`: longest prefix first."""
    size = len(number)
    by_prefix = deck.by_prefix
    for length in deck.lengths:
        if length > size:
            continue
        rates = by_prefix.get(number[:length])
        if rates is None:
            continue
        # The latest start first: the latest started rate still in effect wins (an older
        # open-ended rate applies again once a later, bounded one has ended).
        for rate in rates:
            if rate.effective_from <= now and (
                rate.effective_until is None or now < rate.effective_until
            ):
                return rate
    return None


def margin_percent(cost: Decimal, sell: Decimal) -> Decimal | None:
    """(sell - cost) / sell, in percent, two decimals; None when the sell rate is 0."""
    if sell == ZERO:
        return None
    return ((sell - cost) * HUNDRED / sell).quantize(Decimal("0.01"))


def profitable(cost: Decimal, sell: Decimal, min_margin: Decimal) -> bool:
    """Whether a carrier costing `cost` leaves at least `min_margin` percent of `sell`."""
    return sell - cost >= sell * min_margin / HUNDRED


__all__ = [
    "Deck",
    "DeckRow",
    "RateRow",
    "build_deck",
    "find_rate",
    "margin_percent",
    "profitable",
]
