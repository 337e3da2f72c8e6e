"""Rate decks as the engine reads them (least-cost routing): pure data, no Django.

Ten vendor decks of a million prefixes and a million customer rates must fit every
worker, so a deck is not a dict of strings and tuples (a few hundred bytes a rate) but
three flat arrays, the layout of the number lists (routing.engine.lists):

- keys: array("q"), each rate's prefix as a 64-bit key (lists.number_key: the digits
  padded with zeros to 17 places, times 32, plus the length), sorted, and for one prefix
  its rates by effective_from, oldest first. A prefix is an interval of keys; the
  intervals nest or are disjoint, so
- parents: array("i"), for each rate the last rate of the nearest shorter prefix of the
  deck that contains it (-1: none); and
- terms: array("H") (or "I"), for each rate the index of its terms (rate, effective
  from/until, connect fee, increments) in the deck's palette, a list of distinct tuples:
  decks repeat a few thousand prices and a few dates over a million prefixes.

14 bytes per rate (16 past 65,536 distinct terms), plus the palette and a directory of
the keys' top bits (a bisection narrowed to a few comparisons). find_rate() bisects once
for the last key at or before the number's, then climbs parents until a prefix holds the
number and has a rate in effect at the call's time (effective_from <= now <
effective_until, no end: open-ended): a prefix whose rates are all past or future falls
through to a shorter one, with no rebuild when a future-dated rate starts.

A rate edit does not rebuild the arrays: the loader re-reads the rates of the prefixes it
touched and gives them as an overlay (a small dict, prefix -> rates, with_overlay()) that
replaces the arrays' rates for those prefixes; past OVERLAY_MAX prefixes it re-reads the
deck. Prefixes of 18 to 20 digits (longer than E.164) sit in the overlay too.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

from routing.engine.lists import KEY_DIGITS, number_key

ZERO = Decimal(0)
HUNDRED = Decimal(100)
# Past this many prefixes in a deck's overlay, the loader re-reads the deck whole.
OVERLAY_MAX = 20_000
FOUND_MAX = 100_000  # RateRows kept per deck for the next lookups (about 150 B each)
# Prefixes' ranges kept per deck (DeckRates.within, about 150 B each); past it, a lookup
# under another prefix bisects the whole deck, as without.
WITHIN_MAX = 20_000
_WIDTH: tuple[int, ...] = tuple(10 ** (KEY_DIGITS - n) * 32 for n in range(KEY_DIGITS + 1))
_DIRECTORY_SHIFT = 46  # keys < 2 ** 62: 65,536 buckets at most (as the number lists)
_DIRECTORY_MIN = 4096  # rates below which a deck has no directory (a bisection is short)


class RateRow(NamedTuple):
    prefix: str
    rate: Decimal  # per minute, in the deck's currency
    effective_from: datetime
    effective_until: datetime | None = None
    connect_fee: Decimal = ZERO
    initial_increment: int = 1
    next_increment: int = 1


MICRO = 10**6  # decks' rates and fees have six decimal places: integers of millionths


class RateFacts(NamedTuple):
    """What least-cost routing computes with and writes of a rate, made once per palette
    entry: its rate and connect fee in millionths (exact; Decimal only for a value of more
    than six places, which no deck holds: the columns have six) and the answer's texts of
    them (routing.engine.rtjson): `text` str(rate), `fee_text` str(connect_fee) ("": no
    fee), `inc_text` "initial/next" ("": 1/1)."""

    micro: int
    text: str
    fee_micro: int
    fee_text: str
    inc_text: str


def micro_units(value: Decimal) -> int:
    """`value` in millionths, exactly: an int, or a Decimal past six decimal places."""
    scaled = value.scaleb(6)
    whole = int(scaled)
    return whole if whole == scaled else scaled  # type: ignore[return-value]


def rate_facts(row: RateRow) -> RateFacts:
    fee = row.connect_fee
    inc = (row.initial_increment, row.next_increment)
    return RateFacts(
        micro_units(row.rate),
        str(row.rate),
        micro_units(fee),
        str(fee) if fee else "",
        f"{inc[0]}/{inc[1]}" if inc != (1, 1) else "",
    )


# A rate without its prefix, as the palette holds it (RateRow's other fields, in order).
Terms = tuple[Decimal, datetime, "datetime | None", Decimal, int, int]
# A prefix's keys in a deck's arrays, [lo, hi), and (the rate index, from when) when every
# number under it has the same rate (DeckRates.span_of).
Span = tuple[int, int, "tuple[int, datetime] | None"]


class DeckRates:
    """A deck's compiled rates (immutable once built; see the module doc)."""

    __slots__ = ("count", "directory", "facts", "found", "keys", "overlay", "overlay_lengths",
                 "palette", "parents", "terms", "within")  # fmt: skip

    def __init__(
        self,
        keys: array[int],
        terms: array[int],
        palette: Sequence[Terms],
        overlay: dict[str, tuple[RateRow, ...]] | None = None,
    ) -> None:
        self.keys = keys
        self.terms = terms
        self.palette = palette
        count = len(keys)
        parents = array("i", bytes(4 * count))
        # The prefixes holding the current rate, innermost last: where each one's keys end,
        # and the index of its last rate (where a lookup lands). A prefix's rates are
        # adjacent: each one gets the parent of the prefix.
        ends: list[int] = []
        holders: list[int] = []
        width = _WIDTH
        previous = -1
        for i, key in enumerate(keys):
            if key == previous:
                parents[i] = parents[i - 1]
                holders[-1] = i
                continue
            previous = key
            while ends and ends[-1] < key:
                ends.pop()
                holders.pop()
            if holders:
                parents[i] = holders[-1]
            else:
                parents[i] = -1
            length = key & 31
            ends.append(key - length + width[length] - 1)
            holders.append(i)
        self.parents = parents
        self.directory: array[int] | None = None
        if count >= _DIRECTORY_MIN:
            top = (keys[-1] >> _DIRECTORY_SHIFT) + 2
            self.directory = array(
                "I", (bisect_right(keys, (b << _DIRECTORY_SHIFT) - 1) for b in range(top))
            )
        self.overlay: dict[str, tuple[RateRow, ...]] = overlay or {}
        self.overlay_lengths = _lengths(self.overlay)
        self.count = count + sum(len(rates) for rates in self.overlay.values())
        # The RateRows handed out, by rate index (made once: the prefix's text and the
        # tuple), at most FOUND_MAX of them.
        self.found: dict[int, RateRow] = {}
        # The RateFacts of the palette's terms handed out, by palette index (made once).
        self.facts: dict[int, RateFacts] = {}
        # Prefix -> the range of the arrays holding its keys (span_of), at most WITHIN_MAX
        # (the prefixes of least-cost rules that routed calls: a table's lifetime).
        self.within: dict[str, Span] = {}

    def span_of(self, prefix: str, now: datetime) -> Span:
        """The range [lo, hi) of the arrays whose keys are `prefix` or longer prefixes
        under it (remembered in self.within): a number under `prefix` has its key in there
        or, when none is at or before it, lo - 1 (the nearest shorter prefix's).

        When no longer prefix splits `prefix` (its keys are its own, or none), every
        number under it has the same rate: the third item is then that rate's index (-1:
        none) and the moment from which it holds, when every rate the lookup reads (the
        prefix's, its parents') is open-ended and started at `now` (none announced for
        later): from the latest of their starts on, the answer cannot change; else None."""
        key = prefix_key(prefix)
        length = len(prefix)
        keys = self.keys
        lo, hi = self._range(key, length)
        fixed = None
        if all(keys[i] == key for i in range(lo, hi)):
            fixed = self._fixed(hi - 1 if hi > lo else lo - 1, key, length, now)
        span = self.within[prefix] = (lo, hi, fixed)
        return span

    def _range(self, key: int, length: int) -> tuple[int, int]:
        """The range [lo, hi) of the arrays whose keys are the prefix (key, length) or
        longer prefixes under it."""
        lo = bisect_left(self.keys, key)
        return lo, bisect_left(self.keys, key - length + _WIDTH[length], lo)

    def prefixes_under(self, prefix: str, limit: int) -> list[str] | None:
        """The deck's prefixes at or under `prefix`, each once; None when the deck has an
        overlay (its arrays are not the whole story) or more than `limit` rates there."""
        if self.overlay or len(prefix) > KEY_DIGITS:
            return None
        span = self.within.get(prefix)
        lo, hi = span[:2] if span is not None else self._range(prefix_key(prefix), len(prefix))
        if hi - lo > limit:
            return None
        keys = self.keys
        return [prefix_of(keys[i]) for i in range(lo, hi) if i == lo or keys[i] != keys[i - 1]]

    def steady(self, key: int, size: int, now: datetime) -> tuple[datetime | None, datetime | None]:
        """Around `now`, the moments (since, until) between which a number's (key, size:
        number_probe()) rate cannot change: the latest start or end at or before `now` and
        the first one after it of the rates of the prefixes holding the number (None: no
        such moment). Any moment in [since, until) finds the same rate. Arrays only (a deck
        with an overlay is not asked)."""
        keys, parents, terms, palette = self.keys, self.parents, self.terms, self.palette
        since: datetime | None = None
        until: datetime | None = None
        i = _last_at_or_before(self, key)
        while i >= 0:
            found = keys[i]
            length = found & 31
            if length <= size and key < found - length + _WIDTH[length]:
                j = i
                while j >= 0 and keys[j] == found:
                    item = palette[terms[j]]
                    for moment in (item[1], item[2]):
                        if moment is None:
                            continue
                        if moment <= now:
                            if since is None or moment > since:
                                since = moment
                        elif until is None or moment < until:
                            until = moment
                    j -= 1
            i = parents[i]
        return since, until

    def _fixed(self, i: int, key: int, size: int, now: datetime) -> tuple[int, datetime] | None:
        """(the rate index, from when) for the numbers under a prefix (key, size) whose
        lookup starts at index i, when it holds from then on (span_of); else None."""
        keys, parents, terms, palette = self.keys, self.parents, self.terms, self.palette
        since: datetime | None = None  # the latest start of the rates read
        k = i
        while k >= 0:  # every rate of every prefix the lookup may read
            found = keys[k]
            m = k
            while m >= 0 and keys[m] == found:
                item = palette[terms[m]]
                if item[1] > now or item[2] is not None:
                    return None
                if since is None or item[1] > since:
                    since = item[1]
                m -= 1
            k = parents[k]
        return _climb(self, i, key, size, now), now if since is None else since

    @classmethod
    def from_rows(cls, rows: Iterable[RateRow]) -> DeckRates:
        """From rates in any order (tests, SQLite, a deck read row by row)."""
        palette: dict[Terms, int] = {}
        items: list[tuple[int, datetime, int]] = []
        long: dict[str, list[RateRow]] = {}
        for row in rows:
            if len(row.prefix) > KEY_DIGITS:
                long.setdefault(row.prefix, []).append(row)
                continue
            terms = row[1:]
            index = palette.setdefault(terms, len(palette))
            items.append((prefix_key(row.prefix), row.effective_from, index))
        items.sort(key=lambda item: (item[0], item[1]))
        kind = "H" if len(palette) <= 65536 else "I"
        return cls(
            array("q", (item[0] for item in items)),
            array(kind, (item[2] for item in items)),
            list(palette),
            {prefix: _latest_first(rates) for prefix, rates in long.items()},
        )

    @classmethod
    def from_arrays(
        cls,
        keys: Sequence[int],
        terms: Sequence[int],
        parents: Sequence[int],
        directory: Sequence[int] | None,
        palette: Sequence[Terms],
        overlay: dict[str, tuple[RateRow, ...]],
    ) -> DeckRates:
        """From arrays computed already (a file mapped by routing.deck_cache: any sequence
        of ints indexes as an array does)."""
        rates = DeckRates.__new__(DeckRates)
        rates.keys, rates.terms, rates.parents = keys, terms, parents  # type: ignore[assignment]
        rates.directory = directory  # type: ignore[assignment]
        rates.palette = palette
        rates.overlay = overlay
        rates.overlay_lengths = _lengths(overlay)
        rates.count = len(keys) + sum(len(r) for r in overlay.values())
        rates.found = {}
        rates.facts = {}
        rates.within = {}
        return rates

    def with_overlay(self, changed: dict[str, tuple[RateRow, ...]]) -> DeckRates:
        """A copy whose prefixes in `changed` have those rates (none: the prefix has no
        rate any more), the arrays shared (the old object is not modified)."""
        copy = DeckRates.__new__(DeckRates)
        for name in ("keys", "terms", "palette", "parents", "directory"):
            setattr(copy, name, getattr(self, name))
        copy.found = {}
        copy.facts = self.facts  # the same palette: the same facts
        copy.within = {}  # (an overlay deck does not read it: the overlay's rates win)
        copy.overlay = {**self.overlay, **{p: _latest_first(r) for p, r in changed.items()}}
        copy.overlay_lengths = _lengths(copy.overlay)
        copy.count = self._count_with(copy.overlay)
        return copy

    def _count_with(self, overlay: dict[str, tuple[RateRow, ...]]) -> int:
        hidden = 0
        for prefix in overlay:
            if len(prefix) <= KEY_DIGITS:
                hidden += len(self._base_rates(prefix))
        return len(self.keys) - hidden + sum(len(rates) for rates in overlay.values())

    def _base_rates(self, prefix: str) -> list[int]:
        """The indexes of the arrays' rates of exactly `prefix`."""
        key = prefix_key(prefix)
        keys = self.keys
        i = bisect_right(keys, key) - 1
        found = []
        while i >= 0 and keys[i] == key:
            found.append(i)
            i -= 1
        return found

    def nbytes(self) -> int:
        """The memory its arrays hold (without the palette's few objects)."""
        arrays = [self.keys, self.terms, self.parents]
        if self.directory is not None:
            arrays.append(self.directory)
        return sum(len(a) * a.itemsize for a in arrays)


def _latest_first(rates: Iterable[RateRow]) -> tuple[RateRow, ...]:
    return tuple(sorted(rates, key=lambda r: r.effective_from, reverse=True))


def _lengths(overlay: dict[str, tuple[RateRow, ...]]) -> tuple[int, ...]:
    return tuple(sorted({len(prefix) for prefix in overlay}, reverse=True))


def prefix_key(prefix: str) -> int:
    """A prefix's key (the empty prefix: 0, before every other)."""
    return number_key(prefix) if prefix else 0


def prefix_of(key: int) -> str:
    length = key & 31
    return str(key >> 5).zfill(KEY_DIGITS)[:length] if length else ""


EMPTY_RATES = DeckRates(array("q"), array("H"), [])


@dataclass(frozen=True, slots=True)
class DeckRow:
    """One deck as the loader (or a test) gives it: exactly one of carrier_id, tenant_id;
    its rates as rows, or compiled already (`compiled`: the loader's arrays)."""

    id: int
    name: str
    currency: str
    carrier_id: int | None = None
    tenant_id: int | None = None
    rates: tuple[RateRow, ...] = ()
    compiled: DeckRates | None = None


@dataclass(frozen=True, slots=True)
class Deck:
    id: int
    name: str
    currency: str
    rates: DeckRates

    @property
    def count(self) -> int:
        return self.rates.count


def build_deck(row: DeckRow) -> Deck:
    rates = row.compiled if row.compiled is not None else DeckRates.from_rows(row.rates)
    return Deck(row.id, row.name, row.currency, rates)


def number_probe(number: str) -> tuple[int, int]:
    """(key, length) of the number's leading digits (a prefix holds only digits: a number
    with something else in it matches the prefixes of the digits before it). Computed once
    per call for all the decks find_match() reads."""
    if not (number.isascii() and number.isdigit()):
        end = 0
        while end < len(number) and "0" <= number[end] <= "9":
            end += 1
        number = number[:end]
    return (number_key(number) if number else 0), len(number)


def find_rate(deck: Deck, number: str, now: datetime) -> RateRow | None:
    """The rate of the called number (E.164 digits) at `now`: longest prefix first."""
    rates = deck.rates
    key, size = number_probe(number)
    if rates.overlay:
        return _find_with_overlay(rates, number[:size], key, size, now)
    j = _locate(rates, key, size, now)
    return None if j < 0 else _row(rates, j)


# What find_match() found: the index of a rate in the deck's arrays, or an overlay's rate.
Match = int | RateRow


def find_match(
    deck: Deck, number: str, now: datetime, probe: tuple[int, int], within: str = ""
) -> Match | None:
    """The number's rate at `now` as a Match (None: no rate), `probe` its number_probe():
    an int or a RateRow that compares equal for the same rate of the same deck, so a
    least-cost decision can be remembered by its matches (routing.engine.decide).

    `within`: a prefix of the number (a least-cost rule's): the bisection runs over that
    prefix's keys only, found once per deck and prefix (DeckRates.within) and the same for
    every call the rule routes: one or two keys when the deck does not split the prefix,
    the same few cache lines call after call."""
    rates = deck.rates
    key, size = probe
    if rates.overlay:
        return _find_with_overlay(rates, number[:size], key, size, now)
    span = None
    if within and len(within) <= size and len(within) <= KEY_DIGITS:
        span = rates.within.get(within)
        if span is None and len(rates.within) < WITHIN_MAX:
            span = rates.span_of(within, now)
        if span is not None:
            fixed = span[2]
            if fixed is not None and now >= fixed[1]:  # the same rate for every number
                return None if fixed[0] < 0 else fixed[0]
    j = _locate(rates, key, size, now, span)
    return None if j < 0 else j


def priced(deck: Deck, match: Match) -> tuple[RateRow, RateFacts]:
    """A match's RateRow and RateFacts. The facts of the arrays' rates are made once per
    palette entry; an overlay's rate's, each time."""
    if match.__class__ is not int:
        return match, rate_facts(match)  # type: ignore[arg-type,return-value]
    rates = deck.rates
    row = _row(rates, match)
    index = rates.terms[match]
    facts = rates.facts.get(index)
    if facts is None:
        facts = rates.facts[index] = rate_facts(row)
    return row, facts


def _locate(rates: DeckRates, key: int, size: int, now: datetime, span: Span | None = None) -> int:
    """The index in the arrays of the number's rate at `now` (-1: none); `span`: the
    arrays' keys of a prefix of the number (DeckRates.span_of)."""
    if span is not None:
        lo, hi, _ = span
        i = bisect_right(rates.keys, key, lo, hi) - 1 if hi > lo else lo - 1
    else:
        i = _last_at_or_before(rates, key)
    return _climb(rates, i, key, size, now)


def _last_at_or_before(rates: DeckRates, key: int) -> int:
    """The index of the arrays' last key at or before `key` (-1: none), the directory
    narrowing the bisection."""
    keys = rates.keys
    directory = rates.directory
    if directory is None:
        return bisect_right(keys, key) - 1
    bucket = key >> _DIRECTORY_SHIFT
    if bucket + 1 < len(directory):
        return bisect_right(keys, key, directory[bucket], directory[bucket + 1]) - 1
    return len(keys) - 1


def _climb(rates: DeckRates, i: int, key: int, size: int, now: datetime) -> int:
    """From the last key at or before the number's (index i), up the parents: the index
    of the first prefix holding the number with a rate in effect at `now` (-1: none)."""
    keys, parents, terms, palette = rates.keys, rates.parents, rates.terms, rates.palette
    while i >= 0:
        found = keys[i]
        length = found & 31
        if length <= size and key < found - length + _WIDTH[length]:
            j = i
            # The prefix's rates, latest start first (the arrays hold them oldest first):
            # the latest started rate still in effect wins (an older open-ended rate
            # applies again once a later, bounded one has ended).
            while j >= 0 and keys[j] == found:
                item = palette[terms[j]]
                if item[1] <= now and (item[2] is None or now < item[2]):
                    return j
                j -= 1
        i = parents[i]
    return -1


def _row(rates: DeckRates, j: int) -> RateRow:
    """The RateRow of the arrays' rate j (made once, kept in rates.found)."""
    made = rates.found.get(j)
    if made is None:
        if len(rates.found) >= FOUND_MAX:
            rates.found = {}
        made = rates.found[j] = _make((prefix_of(rates.keys[j]), *rates.palette[rates.terms[j]]))
    return made


_make = RateRow._make


def _find_with_overlay(
    rates: DeckRates, digits: str, key: int, size: int, now: datetime
) -> RateRow | None:
    """find_rate() when some prefixes' rates come from the overlay: the arrays' answer
    (skipping the prefixes the overlay replaces), unless a longer prefix of the overlay
    has a rate in effect."""
    overlay = rates.overlay
    best: RateRow | None = None
    best_length = -1
    keys, parents, terms, palette = rates.keys, rates.parents, rates.terms, rates.palette
    i = bisect_right(keys, key) - 1
    while i >= 0:
        found = keys[i]
        length = found & 31
        if length <= size and key < found - length + _WIDTH[length]:
            prefix = prefix_of(found)
            if prefix not in overlay:
                j = i
                while j >= 0 and keys[j] == found:
                    item = palette[terms[j]]
                    if item[1] <= now and (item[2] is None or now < item[2]):
                        best, best_length = _make((prefix, *item)), length
                        break
                    j -= 1
                if best is not None:
                    break
        i = parents[i]
    for length in rates.overlay_lengths:
        if length <= best_length:
            break
        if length > size:
            continue
        for rate in overlay.get(digits[:length], ()):
            if rate.effective_from <= now and (
                rate.effective_until is None or now < rate.effective_until
            ):
                return rate
    return best


def margin_percent(cost: Decimal, sell: Decimal) -> Decimal | None:
    """(sell - cost) / sell, in percent, two decimals; None when the sell rate is 0."""
    if sell == ZERO:
        return None
    return ((sell - cost) * HUNDRED / sell).quantize(Decimal("0.01"))


def profitable(cost: Decimal, sell: Decimal, min_margin: Decimal) -> bool:
    """Whether a carrier costing `cost` leaves at least `min_margin` percent of `sell`."""
    return sell - cost >= sell * min_margin / HUNDRED


__all__ = [
    "EMPTY_RATES",
    "OVERLAY_MAX",
    "Deck",
    "DeckRates",
    "DeckRow",
    "Match",
    "RateFacts",
    "RateRow",
    "build_deck",
    "find_match",
    "find_rate",
    "margin_percent",
    "micro_units",
    "number_probe",
    "priced",
    "profitable",
    "rate_facts",
]
