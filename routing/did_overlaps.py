"""Which DIDs may not coexist: a number belongs to one tenant only.

A DID is an exact number, a range of numbers of one length, or a prefix (every number, of
any length, starting with it). The router picks the exact number, then the range, then the
longest prefix (Table.find_did), so within one tenant a number inside its own range, or a
longer prefix inside a shorter one, is a way to send part of a block elsewhere. Across
tenants the same overlap silently hands one tenant's calls to the other: refused, whatever
the kinds (exact in a range, a range across a prefix, a prefix covering numbers...). Two
ranges may not overlap at all, as before (the table bisects ranges, which must be disjoint).

Pure Python: Did.clean() runs it on the few rows its query finds, the CSV import on the
whole file and the database rows it could meet, with the same rule and the same words.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

EXACT, RANGE, PREFIX = "exact", "range", "prefix"
# Above every digit: a prefix P's numbers sort in [P, P + _AFTER_DIGITS).
_AFTER_DIGITS = ":"


@dataclass(frozen=True, slots=True)
class DidSpan:
    """One DID as the overlap rule sees it. key: whatever identifies the row to the caller
    (a primary key, a CSV line); tenant: its tenant's name, for the message."""

    key: object
    tenant_id: int
    tenant: str
    match: str
    number: str
    range_end: str = ""

    @property
    def first(self) -> str:
        return self.number

    @property
    def last(self) -> str:
        return self.range_end if self.match == RANGE else self.number

    def describe(self) -> str:
        if self.match == RANGE:
            return f"the range {self.number}-{self.range_end}"
        if self.match == PREFIX:
            return f"the prefix {self.number}* (every number starting with {self.number})"
        return f"the number {self.number}"


def overlap(a: DidSpan, b: DidSpan) -> bool:
    """Whether some number is matched by both."""
    if a.match == PREFIX and b.match == PREFIX:
        return a.number.startswith(b.number) or b.number.startswith(a.number)
    if PREFIX in (a.match, b.match):
        prefix, span = (a, b) if a.match == PREFIX else (b, a)
        size = len(prefix.number)
        # The span's numbers starting with the prefix: those between its ends cut to its length.
        return len(span.first) >= size and (span.first[:size] <= prefix.number <= span.last[:size])
    return len(a.first) == len(b.first) and a.first <= b.last and b.first <= a.last


def conflict(a: DidSpan, b: DidSpan) -> bool:
    """Whether a and b may not both exist (the rule of the module's docstring). The same
    number twice with the same match is the unique constraint's to report, not this."""
    if a.match == b.match and a.number == b.number and a.match != RANGE:
        return False
    if a.tenant_id == b.tenant_id and not (a.match == RANGE and b.match == RANGE):
        return False
    return overlap(a, b)


def message(other: DidSpan, same_tenant: bool) -> str:
    if same_tenant:  # two ranges of one tenant: the table needs disjoint ranges
        return f"This range overlaps {other.describe()}."
    return (
        f"This overlaps {other.describe()} of tenant {other.tenant}: "
        "a number can belong to one tenant only."
    )


def error_field(span: DidSpan) -> str:
    """The form field a conflict is reported on: a range's end, else the number."""
    return "range_end" if span.match == RANGE else "number"


class _Sorted:
    """Spans sorted by their first number, with the largest last number so far at each
    position: the spans meeting [low, high] are found without scanning the others."""

    def __init__(self, spans: list[DidSpan]) -> None:
        spans.sort(key=lambda span: span.first)
        self.spans = spans
        self.firsts = [span.first for span in spans]
        self.reach: list[str] = []
        widest = ""
        for span in spans:
            widest = max(widest, span.last)
            self.reach.append(widest)

    def meeting(self, low: str, high: str) -> Iterator[DidSpan]:
        """Spans (of the same length as low and high) with a number in [low, high]."""
        index = bisect.bisect_right(self.firsts, high) - 1
        while index >= 0 and self.reach[index] >= low:
            if self.spans[index].last >= low:
                yield self.spans[index]
            index -= 1

    def starting_with(self, prefix: str) -> Iterator[DidSpan]:
        """Spans whose first number starts with prefix (exact numbers and prefixes)."""
        start = bisect.bisect_left(self.firsts, prefix)
        end = bisect.bisect_left(self.firsts, prefix + _AFTER_DIGITS)
        yield from self.spans[start:end]


class DidIndex:
    """Many DIDs indexed for the question: which of them does this one overlap?"""

    def __init__(self, spans: Iterable[DidSpan]) -> None:
        numbers: dict[int, list[DidSpan]] = {}  # exact numbers and ranges, by length
        exact: list[DidSpan] = []
        prefixes: list[DidSpan] = []
        self.prefix_at: dict[str, list[DidSpan]] = {}
        for span in spans:
            if span.match == PREFIX:
                prefixes.append(span)
                self.prefix_at.setdefault(span.number, []).append(span)
            else:
                numbers.setdefault(len(span.number), []).append(span)
                if span.match == EXACT:
                    exact.append(span)
        self.by_length = {length: _Sorted(items) for length, items in numbers.items()}
        self.exact = _Sorted(exact)
        self.prefixes = _Sorted(prefixes)
        self.prefix_lengths = sorted({len(span.number) for span in prefixes})
        self.prefixes_by_length = {
            length: _Sorted([span for span in prefixes if len(span.number) == length])
            for length in self.prefix_lengths
        }

    def overlapping(self, span: DidSpan) -> Iterator[DidSpan]:
        """Every indexed span sharing a number with span (span itself excluded)."""
        found: Iterator[DidSpan]
        if span.match == PREFIX:
            found = self._meeting_prefix(span.number)
        else:
            found = self._meeting_numbers(span.first, span.last)
        for other in found:
            if other is not span and other.key != span.key and overlap(span, other):
                yield other

    def conflicts(self, span: DidSpan) -> Iterator[DidSpan]:
        return (other for other in self.overlapping(span) if conflict(span, other))

    def _meeting_numbers(self, low: str, high: str) -> Iterator[DidSpan]:
        size = len(low)
        same_length = self.by_length.get(size)
        if same_length is not None:
            yield from same_length.meeting(low, high)
        for length in self.prefix_lengths:
            if length > size:
                break
            yield from self.prefixes_by_length[length].meeting(low[:length], high[:length])

    def _meeting_prefix(self, prefix: str) -> Iterator[DidSpan]:
        yield from self.exact.starting_with(prefix)
        yield from self.prefixes.starting_with(prefix)  # longer prefixes (and itself)
        for length in range(1, len(prefix)):
            yield from self.prefix_at.get(prefix[:length], ())
        for size, spans in self.by_length.items():
            if size >= len(prefix):
                pad = size - len(prefix)
                for other in spans.meeting(prefix + "0" * pad, prefix + "9" * pad):
                    if other.match == RANGE:
                        yield other
