"""Number portability (LNP) in the routing table: ported numbers and the rules that look
them up.

Tens of millions of ported numbers must fit every worker, so they are not a dict of
strings (about 150 bytes a number) but two parallel arrays of signed 64-bit integers:
the numbers, sorted, and their routing numbers (LRN). E.164 numbers never start with 0
(the models' constraint), so a number's int is its digits without loss. A lookup is one
int() and one bisection: 16 bytes per number. A directory (a quarter of a byte per number)
says where each slice of the numbers' span starts in the array, so the bisection covers
about 16 numbers instead of all of them (7 comparisons instead of 24 for 10 million).

A port that takes effect later (effective_from in the future when the table was built)
sits in a small dict with its moment instead: the lookup checks it against the call's
`now`, so a port takes effect on time without a reload.

One number saved or deleted in the admin or the API does not rebuild the arrays (14-23 s at
10 million): the loader gives the table a new PortedNumbers that shares them and carries
the few changed numbers in an overlay dict, looked at first (patched()). The overlay is
folded into the arrays at the next whole build (a full import, or an overlay grown past
the loader's bound). With no overlay, a lookup pays one dict truth test.

Pure: no Django; the loader feeds the builder (routing.loader).
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class LnpRuleRow:
    """Calls of a tenant (None: every tenant) to numbers starting with `prefix` look the
    called number up."""

    id: int
    prefix: str
    tenant_id: int | None = None
    enabled: bool = True

    @property
    def label(self) -> str:
        scope = f"tenant #{self.tenant_id}" if self.tenant_id is not None else "global"
        return f"LNP rule #{self.id} ({scope}, prefix {self.prefix or '(any)'})"


class PortedBuilder:
    """Ported numbers, added one at a time (the loader streams millions of them)."""

    def __init__(self) -> None:
        self._numbers = array("q")
        self._lrns = array("q")
        self._pending: dict[int, tuple[int, datetime]] = {}
        self.count = 0

    def add(self, number: str, lrn: str, effective_from: datetime | None = None,
            now: datetime | None = None) -> None:  # fmt: skip
        """A row as the database holds it; `now`: when the table is built (a port whose
        effective_from is later waits in the pending dict)."""
        for digits in (number, lrn):
            if not (0 < len(digits) <= 15 and digits.isascii() and digits.isdigit()) or (
                digits[0] == "0"
            ):
                raise ValueError(f"ported number {number!r} -> {lrn!r}: not E.164 digits")
        if effective_from is not None and (now is None or effective_from > now):
            self._pending[int(number)] = (int(lrn), effective_from)
        else:
            self._numbers.append(int(number))
            self._lrns.append(int(lrn))
        self.count += 1

    def finish(self) -> PortedNumbers:
        numbers, lrns = self._numbers, self._lrns
        if any(numbers[i] >= numbers[i + 1] for i in range(len(numbers) - 1)):
            # The loader reads them ordered by number (as text: "12" < "2" but 12 > 2).
            pairs = sorted(zip(numbers, lrns, strict=True))
            numbers = array("q", (number for number, _ in pairs))
            lrns = array("q", (lrn for _, lrn in pairs))
            del pairs
        self._numbers, self._lrns = array("q"), array("q")
        ported = PortedNumbers(numbers, lrns, self._pending, self.count)
        if len(numbers) >= _DIRECTORY_MIN:
            base = numbers[0]
            span = numbers[-1] - base
            shift = (span // (len(numbers) // _PER_BUCKET)).bit_length()
            ported.base, ported.shift = base, shift
            ported.directory = array(
                "I", (bisect_left(numbers, base + (b << shift)) for b in range((span >> shift) + 2))
            )
        self._pending = {}
        return ported


_DIRECTORY_MIN = 4096  # numbers below which there is no directory (a bisection is short)
_PER_BUCKET = 16  # numbers per slice of the directory, on average


# An overlay entry: the number's LRN and when it takes effect (None: in effect), or None
# when the number is no longer ported.
OverlayEntry = tuple[int, datetime | None] | None


class PortedNumbers:
    """The compiled ported numbers (immutable once built; see the module doc)."""

    __slots__ = ("base", "count", "directory", "lrns", "numbers", "overlay", "pending", "shift")

    def __init__(
        self,
        numbers: array[int],
        lrns: array[int],
        pending: dict[int, tuple[int, datetime]],
        count: int,
    ) -> None:
        self.numbers = numbers
        self.lrns = lrns
        self.pending = pending
        self.count = count
        # The directory: directory[b] is where the numbers >= base + (b << shift) start.
        self.directory: array[int] | None = None
        self.base = 0
        self.shift = 0
        # Numbers changed since the arrays were built (patched()): they win over the arrays.
        self.overlay: dict[int, OverlayEntry] = {}

    def find(self, number: str, now: datetime | None = None) -> str | None:
        """The LRN of `number` (E.164 digits) when it is ported (and in effect at `now`),
        else None."""
        if not number or len(number) > 15 or number[0] == "0":
            return None
        value = int(number)
        if self.overlay and value in self.overlay:
            entry = self.overlay[value]
            if entry is None:
                return None  # no longer ported
            lrn, effective_from = entry
            if effective_from is None or (now is not None and now >= effective_from):
                return str(lrn)
            return None
        numbers = self.numbers
        directory = self.directory
        if directory is None:
            i = bisect_left(numbers, value)
            if i < len(numbers) and numbers[i] == value:
                return str(self.lrns[i])
        else:
            bucket = (value - self.base) >> self.shift
            if 0 <= bucket < len(directory) - 1:
                i = bisect_left(numbers, value, directory[bucket], directory[bucket + 1])
                if i < len(numbers) and numbers[i] == value:
                    return str(self.lrns[i])
        if self.pending:
            waiting = self.pending.get(value)
            if waiting is not None and now is not None and now >= waiting[1]:
                return str(waiting[0])
        return None

    def patched(self, changes: dict[str, tuple[str, datetime | None] | None]) -> PortedNumbers:
        """A new PortedNumbers sharing these arrays, with `changes` (number -> (lrn,
        effective_from), or None: no longer ported) over them; this one is not modified
        (requests may still be reading it). ValueError for digits that are not E.164."""
        overlay = dict(self.overlay)
        count = self.count
        built = self._sharing({})  # the arrays alone, to tell what they hold
        for number, row in changes.items():
            digits = (number,) if row is None else (number, row[0])
            for text in digits:
                if not (0 < len(text) <= 15 and text.isascii() and text.isdigit()) or (
                    text[0] == "0"
                ):
                    raise ValueError(f"ported number {number!r}: not E.164 digits")
            value = int(number)
            if value in overlay:
                was = overlay[value] is not None
            else:
                was = value in self.pending or built.find(number) is not None
            overlay[value] = None if row is None else (int(row[0]), row[1])
            count += (row is not None) - was
        new = self._sharing(overlay)
        new.count = count
        return new

    def _sharing(self, overlay: dict[int, OverlayEntry]) -> PortedNumbers:
        new = PortedNumbers(self.numbers, self.lrns, self.pending, self.count)
        new.directory, new.base, new.shift = self.directory, self.base, self.shift
        new.overlay = overlay
        return new

    def nbytes(self) -> int:
        """The memory its arrays hold (16 bytes a number in effect and a quarter for the
        directory; the few pending ports and overlay entries cost a dict entry each, about
        200 bytes)."""
        arrays = [self.numbers, self.lrns]
        if self.directory is not None:
            arrays.append(self.directory)
        size = sum(a.buffer_info()[1] * a.itemsize for a in arrays)
        return size + 200 * (len(self.pending) + len(self.overlay))


EMPTY_PORTED = PortedNumbers(array("q"), array("q"), {}, 0)


@dataclass(frozen=True, slots=True)
class Ported:
    """A lookup that changed the routing number: which rule asked, the LRN found."""

    rule: LnpRuleRow
    number: str
    lrn: str
    # The LRN came with the call (the Request-URI's rn, with npdi), not from our database.
    upstream: bool = False

    @property
    def why(self) -> str:
        source = ", rn from the Request-URI" if self.upstream else ""
        return f"Ported: {self.number} -> LRN {self.lrn} ({self.rule.label}{source})"


def find_lnp_rule(
    rules: dict[int | None, tuple[LnpRuleRow, ...]], tenant_id: int, callee: str
) -> LnpRuleRow | None:
    """The enabled rule, the tenant's before a global one, with the longest prefix of
    `callee` (rules: by tenant id, None for global ones; each tuple longest prefix first)."""
    for scope in (tenant_id, None):
        for rule in rules.get(scope, ()):
            if callee.startswith(rule.prefix):
                return rule
    return None


def index_lnp_rules(rows: tuple[LnpRuleRow, ...]) -> dict[int | None, tuple[LnpRuleRow, ...]]:
    by_scope: dict[int | None, list[LnpRuleRow]] = {}
    for row in rows:
        if row.enabled:
            by_scope.setdefault(row.tenant_id, []).append(row)
    return {
        scope: tuple(sorted(items, key=lambda r: (-len(r.prefix), r.id)))
        for scope, items in by_scope.items()
    }


__all__ = [
    "EMPTY_PORTED",
    "LnpRuleRow",
    "Ported",
    "PortedBuilder",
    "PortedNumbers",
    "find_lnp_rule",
    "index_lnp_rules",
]
