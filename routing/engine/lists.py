"""Number lists in the routing table: block and allow lists, looked up by bisection.

A million entries must cost a worker a few MB and a call a microsecond or two, so a list
is not a set of strings (about 100 bytes an entry) but a few flat arrays:

- Exact numbers and prefixes share one sorted array of unsigned 64-bit keys. A number's
  key is its digits padded with zeros to 17 places, times 32, plus its length (one int()
  and a multiplication): "336" and "3360" differ by their lengths, and every number that
  starts with a prefix of n digits has a key in [d * 32, (d + 10 ** (17 - n)) * 32), d
  the prefix's padded digits: a prefix is an interval of keys (a number in it holds the
  prefix when it has at least n digits), an exact number a point. Intervals and points
  nest or are disjoint (a laminar family), so each entry keeps its parent, the nearest
  entry that contains it: a lookup bisects once for the last entry starting at or before
  the number's key, then climbs parents until one holds the number (the exact number
  first, then the longest prefix): one or two steps in practice, 17 at most. A directory
  of the keys' top bits narrows the bisection to a few comparisons. 8 + 1 + 4 bytes per
  entry (key, kind and length, parent). Entries of 18 to 20 digits (longer than E.164
  allows, but valid digits) sit in two small sets of strings instead.
- Ranges (first-last number of one length) keep sorted arrays per length: starts, ends,
  and the furthest end so far (ranges of one list may overlap), bisected.

Pure: no Django; the loader feeds the builders (routing.loader).
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
KEY_DIGITS = 17  # 10 ** 17 * 32 < 2 ** 62: a key fits an unsigned 64-bit integer
# _SCALE[n]: what a number of n digits is multiplied by; _WIDTH[n]: the keys a prefix of
# n digits spans.
_SCALE: tuple[int, ...] = tuple(10 ** (KEY_DIGITS - n) * 32 for n in range(KEY_DIGITS + 1))
_WIDTH = _SCALE
_EXACT_FLAG = 32  # kinds[i]: a prefix's length, or an exact number's length + this
_DIRECTORY_SHIFT = 46  # keys < 2 ** 62: 65,536 buckets at most
_DIRECTORY_MIN = 4096  # entries below which a list has no directory (a bisection is short)
_ARRAY_DIGITS = 19  # every range bound of up to 19 digits fits an unsigned 64-bit integer

Keys = Sequence[int]  # array("Q") (or a list of ints for 20 digits), sorted


def number_key(digits: str) -> int:
    """A number's key (see the module doc); over 17 digits, its first 17 and the largest
    length (after every entry of those digits: it is none of them)."""
    size = len(digits)
    if size > KEY_DIGITS:
        return int(digits[:KEY_DIGITS]) * 32 + 31
    return int(digits) * _SCALE[size] + size


def _keys(values: list[int], digits: int) -> Keys:
    return array("Q", values) if digits <= _ARRAY_DIGITS else values


class ListEntriesBuilder:
    """One list's entries, added one at a time (the loader streams a million of them)."""

    def __init__(self) -> None:
        # (key, kind) of exact numbers and prefixes, as two flat arrays while building.
        self._keys: array[int] = array("Q")
        self._kinds = array("B")
        self._ranges: dict[int, list[tuple[int, int]]] = {}
        self._long: tuple[set[str], set[str]] = (set(), set())  # over 17 digits: exact, prefix
        self.count = 0

    def add(self, match: str, number: str, range_end: str = "") -> None:
        """An entry, as the database holds it (validated digits: the models' constraints)."""
        size = len(number)
        if not 0 < size <= MAX_DIGITS or not (number.isdigit() and number.isascii()):
            raise ValueError(f"number list entry {number!r}: not 1 to {MAX_DIGITS} digits")
        if match in (EXACT, PREFIX) and size > KEY_DIGITS:
            self._long[0 if match == EXACT else 1].add(number)
        elif match == EXACT:
            self._keys.append(int(number) * _SCALE[size] + size)
            self._kinds.append(size + _EXACT_FLAG)
        elif match == PREFIX:
            self._keys.append(int(number) * _SCALE[size])  # where its interval starts
            self._kinds.append(size)
        elif match == RANGE:
            if len(range_end) != size or not range_end.isdigit() or range_end < number:
                raise ValueError(f"number list range {number}-{range_end}: not a valid range")
            self._ranges.setdefault(size, []).append((int(number), int(range_end)))
        else:
            raise ValueError(f"number list entry {number!r}: unknown match {match!r}")
        self.count += 1

    def finish(self) -> ListEntries:
        starts, kinds = self._keys, self._kinds
        # Sorted by key, then by kind: a shorter prefix before a longer one with the same key
        # ("33" before "330": it contains it), an exact number after them. The loader reads
        # the entries ordered by number: sorted already, but for a prefix that is another
        # entry plus zeros; checked in one pass, else one sort of key * 64 + kind.
        if not _ordered(starts, kinds):
            merged = sorted(key << 6 | kind for key, kind in zip(starts, kinds, strict=True))
            starts = array("Q", (item >> 6 for item in merged))
            kinds = array("B", (item & 63 for item in merged))
            del merged
        count = len(starts)
        parents = array("i", bytes(4 * count))
        # The entries holding the current one, innermost last, as (end, index).
        holding: list[tuple[int, int]] = []
        width = _WIDTH
        for i, key in enumerate(starts):
            while holding and holding[-1][0] < key:
                holding.pop()
            parents[i] = holding[-1][1] if holding else -1
            kind = kinds[i]
            if kind < _EXACT_FLAG:  # a point contains nothing but itself
                holding.append((key + width[kind] - 1, i))
        directory = None
        if count >= _DIRECTORY_MIN:
            top = (starts[-1] >> _DIRECTORY_SHIFT) + 2
            directory = array(
                "I", (bisect_left(starts, bucket << _DIRECTORY_SHIFT) for bucket in range(top))
            )
        ranges = {}
        for size, items in self._ranges.items():
            items.sort()
            ends = [end for _, end in items]
            # reach[i]: the furthest end of ranges 0..i. The range holding a number, if any,
            # is at or before the last start <= the number, and no further back than where
            # reach drops below it.
            reach, furthest = [], -1
            for end in ends:
                furthest = max(furthest, end)
                reach.append(furthest)
            ranges[size] = (
                _keys([start for start, _ in items], size),
                _keys(ends, size),
                _keys(reach, size),
            )
        long_exact, long_prefix = (frozenset(items) for items in self._long)
        self._keys, self._kinds, self._ranges = array("Q"), array("B"), {}
        self._long = (set(), set())
        entries = ListEntries(starts, kinds, parents, directory, ranges, self.count)
        if long_exact or long_prefix:
            entries.long = (long_exact, long_prefix)
        return entries


def _ordered(starts: array[int], kinds: array[int]) -> bool:
    """Whether (start, kind) pairs are in finish()'s order already."""
    previous_start, previous_kind = -1, 0
    for start, kind in zip(starts, kinds, strict=True):
        if start < previous_start or (start == previous_start and kind < previous_kind):
            return False
        previous_start, previous_kind = start, kind
    return True


class ListEntries:
    """A list's compiled entries (immutable once built; see the module doc)."""

    __slots__ = ("count", "directory", "kinds", "long", "parents", "ranges", "starts")

    def __init__(
        self,
        starts: array[int],
        kinds: array[int],
        parents: array[int],
        directory: array[int] | None,
        ranges: dict[int, tuple[Keys, Keys, Keys]],
        count: int,
    ) -> None:
        self.starts = starts
        self.kinds = kinds
        self.parents = parents
        self.directory = directory
        self.ranges = ranges
        self.count = count
        self.long: tuple[frozenset[str], frozenset[str]] | None = None

    def find(self, number: str, key: int | None = None) -> tuple[str, str] | None:
        """The entry holding `number` (E.164 digits), as (match, entry text): the exact
        number, else the longest prefix, else a range; None when no entry holds it.
        `key`: number_key(number), when the caller has it already."""
        size = len(number)
        if not 0 < size <= MAX_DIGITS:
            return None
        if size > KEY_DIGITS and self.long is not None:
            long_exact, long_prefix = self.long
            if number in long_exact:
                return EXACT, number
            for length in range(size, KEY_DIGITS, -1):
                if number[:length] in long_prefix:
                    return PREFIX, number[:length] + "*"
        starts = self.starts
        if starts:
            if key is None:
                key = number_key(number)
            directory = self.directory
            if directory is None:
                i = bisect_right(starts, key) - 1
            else:
                bucket = key >> _DIRECTORY_SHIFT
                if bucket + 1 < len(directory):
                    i = bisect_right(starts, key, directory[bucket], directory[bucket + 1]) - 1
                else:
                    i = len(starts) - 1
            kinds, parents = self.kinds, self.parents
            while i >= 0:
                kind = kinds[i]
                if kind >= _EXACT_FLAG:
                    if starts[i] == key:  # the same digits and length
                        return EXACT, number
                elif kind <= size and starts[i] + _WIDTH[kind] > key:
                    return PREFIX, number[:kind] + "*"
                i = parents[i]
        spans = self.ranges.get(size)
        if spans is not None:
            value = int(number)
            range_starts, ends, reach = spans
            i = bisect_right(range_starts, value) - 1
            while i >= 0 and reach[i] >= value:
                if ends[i] >= value:
                    return RANGE, f"{range_starts[i]:0{size}d}-{ends[i]:0{size}d}"
                i -= 1
        return None

    def nbytes(self) -> int:
        """The memory its arrays hold (what a worker pays for the entries, without the
        fixed cost of the few objects around them)."""
        total = sum(_size(a) for a in (self.starts, self.kinds, self.parents))
        if self.directory is not None:
            total += _size(self.directory)
        for spans in self.ranges.values():
            total += sum(_size(keys) for keys in spans)
        if self.long is not None:
            total += sum(80 * len(items) for items in self.long)  # a str and its set slot
        return total


def _size(keys: Keys) -> int:
    if isinstance(keys, array):
        return keys.buffer_info()[1] * keys.itemsize
    return 8 * len(keys) + 32 * len(keys)  # a list's slots and its ints


EMPTY_ENTRIES = ListEntries(array("Q"), array("B"), array("i"), None, {}, 0)


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
