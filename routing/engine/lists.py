"""Number lists in the routing table: block and allow lists, looked up by bisection.

A list's entries (exact numbers, prefixes, ranges) are kept as sorted arrays of unsigned
64-bit integers, one array per kind and number of digits (the digits' count tells "0033"
from "33", so the leading zeros need no room): 8 bytes per entry, where a set of strings
would cost about 100. A lookup is one int() of the number and, per array it could be in,
one bisection (C code, ~20 comparisons for a million entries); a prefix of n digits is the
number's integer divided by 10 ** (its length - n), as the rule index probes its prefixes.
Numbers of 20 digits (more than an unsigned 64-bit integer holds) fall back to lists of
Python ints. Pure: no Django; the loader feeds the builders (routing.loader).
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

EXACT = "exact"
PREFIX = "prefix"
RANGE = "range"
BLOCK = "block"
ALLOW = "allow"
CALLED = "called"
CALLER = "caller"

MAX_DIGITS = 20
_ARRAY_DIGITS = 19  # every number of up to 19 digits fits an unsigned 64-bit integer
_POW10 = tuple(10**n for n in range(MAX_DIGITS + 1))

Keys = Sequence[int]  # array("Q") (or a list of ints for 20 digits), sorted


def _keys(values: array[int] | list[int], digits: int, ordered: bool) -> Keys:
    if not ordered:
        values = sorted(values)
    if digits <= _ARRAY_DIGITS:
        return values if isinstance(values, array) else array("Q", values)
    return list(values)


class _Column:
    """Values of one kind and length while building: appended in order (the loader reads
    the entries ordered by number) or sorted once at the end."""

    __slots__ = ("last", "ordered", "values")

    def __init__(self, digits: int) -> None:
        self.values: array[int] | list[int] = array("Q") if digits <= _ARRAY_DIGITS else []
        self.ordered = True
        self.last = -1

    def append(self, value: int) -> None:
        if value < self.last:
            self.ordered = False
        self.last = value
        self.values.append(value)


class ListEntriesBuilder:
    """One list's entries, added one at a time (the loader streams a million of them)."""

    def __init__(self) -> None:
        self._exact: dict[int, _Column] = {}
        self._prefix: dict[int, _Column] = {}
        self._ranges: dict[int, list[tuple[int, int]]] = {}
        self.count = 0

    def add(self, match: str, number: str, range_end: str = "") -> None:
        """An entry, as the database holds it (validated digits: the models' constraints)."""
        size = len(number)
        if not 0 < size <= MAX_DIGITS or not (number.isdigit() and number.isascii()):
            raise ValueError(f"number list entry {number!r}: not 1 to {MAX_DIGITS} digits")
        if match in (EXACT, PREFIX):
            columns = self._exact if match == EXACT else self._prefix
            column = columns.get(size)
            if column is None:
                column = columns[size] = _Column(size)
            column.append(int(number))
        elif match == RANGE:
            if len(range_end) != size or not range_end.isdigit() or range_end < number:
                raise ValueError(f"number list range {number}-{range_end}: not a valid range")
            self._ranges.setdefault(size, []).append((int(number), int(range_end)))
        else:
            raise ValueError(f"number list entry {number!r}: unknown match {match!r}")
        self.count += 1

    def finish(self) -> ListEntries:
        exact = {n: _keys(c.values, n, c.ordered) for n, c in self._exact.items()}
        prefix = {n: _keys(c.values, n, c.ordered) for n, c in self._prefix.items()}
        ranges = {}
        for size, items in self._ranges.items():
            items.sort()
            starts = [start for start, _ in items]
            ends = [end for _, end in items]
            # reach[i]: the furthest end of ranges 0..i. The range holding a number, if any,
            # is at or before the last start <= the number, and no further back than where
            # reach drops below it: ranges of one list may overlap or nest.
            reach, furthest = [], -1
            for end in ends:
                furthest = max(furthest, end)
                reach.append(furthest)
            ranges[size] = (
                _keys(starts, size, True),
                _keys(ends, size, True),
                _keys(reach, size, True),
            )
        self._exact, self._prefix, self._ranges = {}, {}, {}
        return ListEntries(exact, prefix, ranges, self.count)


class ListEntries:
    """A list's compiled entries (immutable once built)."""

    __slots__ = ("count", "exact", "prefix", "prefix_lengths", "ranges")

    def __init__(
        self,
        exact: dict[int, Keys],
        prefix: dict[int, Keys],
        ranges: dict[int, tuple[Keys, Keys, Keys]],
        count: int,
    ) -> None:
        self.exact = exact
        self.prefix = prefix
        self.prefix_lengths = tuple(sorted(prefix, reverse=True))  # longest first
        self.ranges = ranges
        self.count = count

    def find(self, number: str) -> tuple[str, str] | None:
        """The entry holding `number` (E.164 digits), as (match, entry text): the exact
        number, else the longest prefix, else a range; None when no entry holds it."""
        size = len(number)
        if not 0 < size <= MAX_DIGITS:
            return None
        value = int(number)
        keys = self.exact.get(size)
        if keys is not None:
            i = bisect_left(keys, value)
            if i < len(keys) and keys[i] == value:
                return EXACT, number
        for length in self.prefix_lengths:
            if length <= size:
                head = value // _POW10[size - length]
                keys = self.prefix[length]
                i = bisect_left(keys, head)
                if i < len(keys) and keys[i] == head:
                    return PREFIX, number[:length] + "*"
        spans = self.ranges.get(size)
        if spans is not None:
            starts, ends, reach = spans
            i = bisect_right(starts, value) - 1
            while i >= 0 and reach[i] >= value:
                if ends[i] >= value:
                    return RANGE, f"{starts[i]:0{size}d}-{ends[i]:0{size}d}"
                i -= 1
        return None

    def nbytes(self) -> int:
        """The memory its arrays hold (what a worker pays per entry, without the fixed
        cost of the few dicts around them)."""
        total = 0
        for keys in (*self.exact.values(), *self.prefix.values()):
            total += _size(keys)
        for spans in self.ranges.values():
            total += sum(_size(keys) for keys in spans)
        return total


def _size(keys: Keys) -> int:
    if isinstance(keys, array):
        return keys.buffer_info()[1] * keys.itemsize
    return 8 * len(keys) + 32 * len(keys)  # a list's slots and its ints


EMPTY_ENTRIES = ListEntries({}, {}, {}, 0)


@dataclass(frozen=True, slots=True)
class NumberListRow:
    """A list's settings, as the loader (or a test) gives them; code and reason are the
    ones a refused call gets (the loader resolves the defaults)."""

    id: int
    name: str
    mode: str = BLOCK  # BLOCK or ALLOW
    side: str = CALLED  # CALLED or CALLER
    code: int = 403
    reason: str = "Destination blocked"
    tenant_id: int | None = None
    carrier_id: int | None = None
    enabled: bool = True

    @property
    def label(self) -> str:
        return f"list {self.name!r} ({self.mode}, {self.side} number)"


@dataclass(frozen=True, slots=True)
class ListCheck:
    """A list as the routing path applies it: its settings and its entries."""

    row: NumberListRow
    entries: ListEntries


@dataclass(frozen=True, slots=True)
class Listed:
    """A list that refused a number: which list, which number, and the entry that decided
    (None for an allow list: no entry holds the number)."""

    row: NumberListRow
    number: str | None
    entry: tuple[str, str] | None

    @property
    def why(self) -> str:
        side = "called" if self.row.side == CALLED else "calling"
        shown = self.number if self.number is not None else "(not a number)"
        if self.entry is not None:
            match, text = self.entry
            return f"{self.row.label} blocks {side} {shown}: entry {text} ({match})"
        return f"{self.row.label}: {side} {shown} is on no entry"


def check(checks: tuple[ListCheck, ...], callee: str | None, caller: str | None) -> Listed | None:
    """The first list of `checks` that refuses the call's numbers, if any.

    A block list refuses a number one of its entries holds; an allow list a number none of
    its entries holds (a caller that is not a number is on no list: an allow list on the
    caller refuses it, a block list lets it through)."""
    for item in checks:
        row = item.row
        number = callee if row.side == CALLED else caller
        hit = item.entries.find(number) if number else None
        if row.mode == BLOCK:
            if hit is not None:
                return Listed(row, number, hit)
        elif hit is None:
            return Listed(row, number, None)
    return None
