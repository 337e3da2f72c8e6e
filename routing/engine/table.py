"""The compiled routing table: plain, immutable data indexed for one call's lookups.

The loader reads every routing row once and hands them to build_table() as the *Row types
below (the rules streamed into a RuleIndexBuilder); build_table() indexes them (dicts keyed
by prefix, per-length network maps, sorted ranges) so that a lookup costs a few dict probes
whatever the table's size. A Table is never modified: a change builds a new one (or patches
a copy, patch_table), swapped in whole. Memory is a feature here: every worker holds the
whole table, and "the rule index" below keeps a 1,000,000-prefix table near 200 MB.
"""

from __future__ import annotations

import bisect
import dataclasses
import hashlib
import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any, NamedTuple, TypedDict
from zoneinfo import ZoneInfo

from routing.engine.grammar import parse_network
from routing.engine.lists import ListCheck, ListEntries, NumberListRow
from routing.engine.lnp import EMPTY_PORTED, LnpRuleRow, PortedNumbers, index_lnp_rules
from routing.engine.numbers import EMPTY_PLAN, NumberPlan
from routing.engine.rates import Deck, DeckRow, build_deck

# ---------------------------------------------------------------------------------------------
# Plain rows, as the loader (or a test) provides them. Frozen dataclasses, except the rows
# of the big tables (rules, their targets, DIDs): named tuples, which build several times
# faster, and a 1,000,000-rule table builds millions of them.


@dataclass(frozen=True, slots=True)
class TenantRow:
    id: int
    name: str
    enabled: bool = True
    max_calls: int | None = None
    max_cps: int | None = None
    # Least-cost routing: margin protection, and the answer when it leaves no carrier.
    min_margin_percent: Decimal = Decimal(0)
    no_profit_code: int = 503
    no_profit_reason: str = "No profitable route"
    # Without a sell deck: the customer's rate is the cost plus a markup (engine.pricing):
    # "percent" or "fixed" (in pricing_currency); "" none.
    pricing: str = ""
    markup: Decimal = Decimal(0)
    pricing_currency: str = ""


@dataclass(frozen=True, slots=True)
class PbxRow:
    id: int
    tenant_id: int
    name: str
    host: str
    port: int = 5060
    transport: str = "udp"
    socket: str = ""
    enabled: bool = True
    fr_timer: int | None = None
    fr_inv_timer: int | None = None
    inbound: NumberPlan = EMPTY_PLAN  # as received from the PBX -> E.164
    outbound: NumberPlan = EMPTY_PLAN  # E.164 -> as the PBX wants it
    max_calls: int | None = None
    max_cps: int | None = None


@dataclass(frozen=True, slots=True)
class CarrierRow:
    id: int
    name: str
    enabled: bool = True
    from_domain: str = ""
    send_pai: bool = False
    send_rn: bool = False  # LNP: ;npdi;rn=+<LRN> in the Request-URI (RFC 4694)
    extra_headers: tuple[tuple[str, str], ...] = ()
    inbound: NumberPlan = EMPTY_PLAN
    outbound: NumberPlan = EMPTY_PLAN
    max_calls: int | None = None
    max_cps: int | None = None


@dataclass(frozen=True, slots=True)
class GatewayRow:
    id: int
    carrier_id: int
    name: str
    host: str
    port: int = 5060
    transport: str = "udp"
    socket: str = ""
    enabled: bool = True
    weight: int = 100
    fr_timer: int | None = None
    fr_inv_timer: int | None = None
    strip: int = 0
    prefix: str = ""
    max_calls: int | None = None
    max_cps: int | None = None


@dataclass(frozen=True, slots=True)
class SourceRow:
    cidr: str
    carrier_id: int | None = None
    pbx_id: int | None = None
    enabled: bool = True
    id: int | None = None
    max_calls: int | None = None
    max_cps: int | None = None


@dataclass(frozen=True, slots=True)
class DomainRow:
    name: str
    tenant_id: int
    pbx_id: int | None = None
    enabled: bool = True


class DidRow(NamedTuple):
    id: int
    tenant_id: int
    pbx_id: int
    number: str
    match: str = "exact"  # "exact", "range" or "prefix"
    range_end: str = ""
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class Window:
    """A weekly time window: days (ISO, Monday=1; empty = every day) and [start, end)."""

    weekdays: frozenset[int] = frozenset()
    start: time | None = None
    end: time | None = None
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))

    def is_open(self, now: datetime) -> bool:
        local = now.astimezone(self.tz)
        day = local.isoweekday()
        if self.start is None or self.end is None:
            return not self.weekdays or day in self.weekdays
        moment = local.time().replace(tzinfo=None)
        if self.start < self.end:
            inside = self.start <= moment < self.end
        elif moment >= self.start:  # spans midnight, evening part: today's window
            inside = True
        elif moment < self.end:  # spans midnight, morning part: the window opened yesterday
            inside = True
            day = (local - timedelta(days=1)).isoweekday()
        else:
            inside = False
        return inside and (not self.weekdays or day in self.weekdays)


class TargetRow(NamedTuple):
    order: int
    weight: int = 100
    carrier_id: int | None = None
    gateway_id: int | None = None


class RuleRow(NamedTuple):
    id: int
    prefix: str
    targets: tuple[TargetRow, ...]
    tenant_id: int | None = None
    caller_prefix: str = ""
    priority: int = 100
    enabled: bool = True
    window: Window | None = None
    name: str = ""
    caller_id: str = ""
    from_display: str = ""
    extra_headers: tuple[tuple[str, str], ...] = ()
    # A rule that rejects its calls: the SIP code (400-699) and reason it answers; 0 for a
    # rule that routes.
    reject_code: int = 0
    reject_reason: str = ""
    # "priority" (targets in their order), "lcr" or "lcr_band" (carriers by their rate for
    # the number; band_percent: rates within it of the cheapest count as equal).
    mode: str = "priority"
    band_percent: Decimal | None = None

    @property
    def label(self) -> str:
        scope = "global" if self.tenant_id is None else f"tenant {self.tenant_id}"
        name = f" {self.name!r}" if self.name else ""
        return f"rule #{self.id}{name} (prefix '{self.prefix}', {scope})"


# --- the rule index ---------------------------------------------------------------------------
#
# A 1,000,000-prefix table is mostly "plain" rules: an id, a scope, a destination prefix and
# targets, every other field at its default. Stored as RuleRows they cost about 300 bytes
# each; the index stores them as two ints instead:
# - the key: the prefix as prefix_key() gives it (10 ** len + the digits: 32 bytes, where a
#   str costs 64, and leading zeros kept);
# - the entry: rule id | slot << 31, the slot naming the rule's target list in the table's
#   TargetLists, where rules with the same targets share one tuple.
# A bucket holding one rule that is not plain stores its RuleRow, and a bucket of several
# rules a tuple of RuleRows in their static order (_sort_rule_key). find_rule() makes the
# RuleRow of the plain rule it picks (rule_of()). Each scope's keys are split in SHARDS
# dicts (key & SHARD_MASK): a patch copies only the shards it touches, not a dict of a
# million entries (40 MB and tens of milliseconds at 1M prefixes).

_ID_BITS = 31
_ID_MASK = (1 << _ID_BITS) - 1
_MAX_SLOT = 1 << 29  # id | slot << 31 stays below 2 ** 60: an int of 32 bytes
PLAIN_MAX_ID = _ID_MASK
PLAIN_PRIORITY: int = RuleRow._field_defaults["priority"]

SHARDS = 64
SHARD_MASK = SHARDS - 1

RuleEntry = int | RuleRow | tuple[RuleRow, ...]
Scope = list[dict[int, RuleEntry]]  # SHARDS dicts: key -> entry in scope[key & SHARD_MASK]
RuleIndex = dict[int | None, Scope]  # scope: a tenant id, or None for the global rules


def _new_scope() -> Scope:
    return [{} for _ in range(SHARDS)]


MAX_PREFIX = 40
POW10: tuple[int, ...] = tuple(10**n for n in range(MAX_PREFIX + 1))


def prefix_key(prefix: str) -> int:
    """A destination prefix (ASCII digits) as the rule index's key: "" -> 1, "33" -> 133,
    "0033" -> 10033. The key of a number's first n digits: number // 10 ** (len - n) + 10 ** n
    (see decide.find_rule)."""
    if not prefix:
        return 1
    if len(prefix) > MAX_PREFIX or not (prefix.isdigit() and prefix.isascii()):
        raise TableError(f"destination prefix {prefix!r}: not up to {MAX_PREFIX} digits")
    return POW10[len(prefix)] + int(prefix)


def key_prefix(key: int) -> str:
    return str(key)[1:]


def is_plain(rule: RuleRow) -> bool:
    """Whether the index may store the rule as an int (see above)."""
    return (
        rule.enabled
        and not rule.caller_prefix
        and rule.priority == PLAIN_PRIORITY
        and rule.window is None
        and not rule.name
        and not rule.caller_id
        and not rule.from_display
        and not rule.extra_headers
        and not rule.reject_code
        and rule.mode == "priority"
        and 0 <= rule.id <= _ID_MASK
    )


# A rebuild with the table in use costs a 1M-prefix worker about 160 MB for good (see the
# README's Sizing): the lists patches pile up are worth one only once they are many.
REBUILD_AFTER_APPENDED = 100_000


class TargetLists:
    """The distinct target lists of a table's plain rules, by slot.

    Append-only: a table patched from another shares its TargetLists and appends the lists
    its changed rules bring (readers only read the slots their own table holds). `appended`
    counts those, duplicates and lists no rule uses any more included: the loader rebuilds
    whole once they outnumber the lists the table was built with (see needs_rebuild).
    """

    __slots__ = ("_slots", "appended", "built", "lists")

    def __init__(self) -> None:
        self.lists: list[tuple[TargetRow, ...]] = [()]  # slot 0: no targets
        self._slots: dict[tuple[TargetRow, ...], int] | None = {(): 0}
        self.appended = 0
        self.built = 0

    def slot(self, targets: tuple[TargetRow, ...]) -> int:
        """The slot of a target list (one slot per distinct list while building)."""
        slots = self._slots
        slot = slots.get(targets) if slots is not None else None
        if slot is None:
            slot = len(self.lists)
            if slot >= _MAX_SLOT:
                raise TableError(f"more than {_MAX_SLOT} distinct target lists")
            self.lists.append(targets)
            if slots is not None:
                slots[targets] = slot
            else:
                self.appended += 1
        return slot

    def seal(self) -> None:
        """Built: forget the lookup by value (a dict as big as the lists); later slots come
        from patches, which find an unchanged list's slot in the rule it replaces."""
        self._slots = None
        self.built = len(self.lists)

    @property
    def needs_rebuild(self) -> bool:
        return self.appended > max(REBUILD_AFTER_APPENDED, self.built)


class RuleIndexBuilder:
    """Indexes rules one at a time: the loader streams a million of them straight in,
    without making a RuleRow for the plain ones (add_plain)."""

    def __init__(self) -> None:
        self.index: RuleIndex = {}
        self.targets = TargetLists()
        self.lengths: dict[int, int] = {}  # prefix length -> rules
        self._crowded: list[tuple[int | None, int]] = []

    def add_plain(self, rule_id: int, tenant_id: int | None, prefix: str, slot: int) -> None:
        """A plain rule (see is_plain), its targets already given a slot."""
        self._put(tenant_id, prefix, rule_id | slot << _ID_BITS)

    def add(self, rule: RuleRow) -> None:
        if not rule.enabled:
            return
        if is_plain(rule):
            self.add_plain(rule.id, rule.tenant_id, rule.prefix, self.targets.slot(rule.targets))
        else:
            self._put(rule.tenant_id, rule.prefix, rule)

    def add_row(self, rule: RuleRow) -> None:
        """A rule stored as its RuleRow (the loader's way for rules that are not plain: it
        fills self.targets.lists itself, by the database's numbers, and slot() must not)."""
        self._put(rule.tenant_id, rule.prefix, rule)

    def _put(self, tenant_id: int | None, prefix: str, entry: int | RuleRow) -> None:
        key = prefix_key(prefix)
        length = len(prefix)
        self.lengths[length] = self.lengths.get(length, 0) + 1
        scope = self.index.get(tenant_id)
        if scope is None:
            scope = self.index[tenant_id] = _new_scope()
        # While building, a crowded key holds a list (tuples once _crowded is sorted).
        shard: dict[int, Any] = scope[key & SHARD_MASK]
        old = shard.setdefault(key, entry)
        if old is entry:
            return
        if old.__class__ is list:
            old.append(entry)
        else:
            shard[key] = [old, entry]
            self._crowded.append((tenant_id, key))

    def finish(self) -> tuple[RuleIndex, TargetLists, dict[int, int]]:
        """The index, its target lists and how many rules it holds per prefix length."""
        lists = self.targets.lists
        for tenant_id, key in self._crowded:
            shard = self.index[tenant_id][key & SHARD_MASK]
            prefix = key_prefix(key)
            rules = [
                rule_of(entry, tenant_id, prefix, lists) if entry.__class__ is int else entry
                for entry in shard[key]  # type: ignore[union-attr]
            ]
            shard[key] = tuple(sorted(rules, key=_sort_rule_key))  # type: ignore[arg-type]
        self.targets.seal()
        return self.index, self.targets, self.lengths


def rule_of(
    entry: int, tenant_id: int | None, prefix: str, lists: list[tuple[TargetRow, ...]]
) -> RuleRow:
    """The RuleRow of a plain rule's entry."""
    return RuleRow(entry & _ID_MASK, prefix, lists[entry >> _ID_BITS], tenant_id)


def bucket(
    entry: RuleEntry | None, tenant_id: int | None, prefix: str, lists: list[tuple[TargetRow, ...]]
) -> tuple[RuleRow, ...]:
    """The rules of an index entry, as RuleRows, best first."""
    if entry is None:
        return ()
    if entry.__class__ is int:
        return (rule_of(entry, tenant_id, prefix, lists),)
    # `__class__ is` is the fast test; mypy narrows it for int, not for a NamedTuple.
    return (entry,) if entry.__class__ is RuleRow else entry  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class Defaults:
    fr_timer: int = 5000
    fr_inv_timer: int = 30000
    max_routes: int = 10


@dataclass(frozen=True, slots=True)
class HealthRow:
    """A gateway that is not plainly healthy (carrier health): down since a moment, by its
    probes, and/or demoted by its failure rate. Healthy gateways have no row."""

    gateway_id: int
    down_since: datetime | None = None  # None: not down
    reason: str = ""
    down_last: bool = False  # the policy puts a down gateway last instead of skipping it
    skip_probability: float = 0.0  # passive demotion: chance of leaving it out of an answer
    failure_share: float = 0.0  # what the probability comes from, for people
    window_attempts: int = 0


@dataclass(frozen=True, slots=True)
class LeftOut:
    """A row the loader could not turn into the engine's form: left out of the table (the
    rest still builds), and reported (/readyz, /metrics, the admin)."""

    kind: str  # "normalization_rule"
    id: int
    reason: str


@dataclass(frozen=True, slots=True)
class TableRows:
    """Everything the engine needs, as plain rows."""

    tenants: tuple[TenantRow, ...] = ()
    pbxs: tuple[PbxRow, ...] = ()
    carriers: tuple[CarrierRow, ...] = ()
    gateways: tuple[GatewayRow, ...] = ()
    sources: tuple[SourceRow, ...] = ()
    domains: tuple[DomainRow, ...] = ()
    dids: tuple[DidRow, ...] = ()
    rules: tuple[RuleRow, ...] = ()
    tokens: frozenset[str] = frozenset()
    left_out: tuple[LeftOut, ...] = ()
    number_lists: tuple[NumberListRow, ...] = ()
    # Each enabled list's compiled entries, by list id (routing.engine.lists).
    list_entries: dict[int, ListEntries] = field(default_factory=dict)
    health: tuple[HealthRow, ...] = ()
    rate_decks: tuple[DeckRow, ...] = ()
    # Portability (routing.engine.lnp): the rules that look the called number up, and the
    # ported numbers (None: none read; a patch keeps the old table's).
    lnp_rules: tuple[LnpRuleRow, ...] = ()
    ported: PortedNumbers | None = None
    # Currency conversion (routing.engine.fx): each currency's exchange rate, what one unit
    # is worth in the base currency (exact), and the base currency.
    exchange_rates: tuple[tuple[str, Fraction], ...] = ()
    base_currency: str = "USD"


# ---------------------------------------------------------------------------------------------
# The compiled table.


@dataclass(frozen=True, slots=True)
class Source:
    """Who a matched network belongs to."""

    cidr: str
    carrier: CarrierRow | None
    pbx: PbxRow | None
    enabled: bool
    limits: str = ""  # the network's own capacity limit item (limit_item), "" when none


@dataclass(frozen=True, slots=True)
class Hop:
    """A gateway or PBX as routes address it, its strings computed once per table."""

    label: str  # for people: "gateway Alpha/alpha-1"
    uri_tail: str  # after the user part: "@192.0.2.1:5060;transport=tcp"
    dst_uri: str
    host: str  # bracketed when IPv6
    socket: str
    fr_timer: int
    fr_inv_timer: int


def token_digest(token: bytes) -> bytes:
    """The SHA-256 of a token's bytes, as the table keeps router instances' tokens.

    A lookup by digest is a constant-time comparison with respect to the tokens: what its
    timing can tell a client is how the digest of its guess relates to the digests of the
    tokens, which says nothing about the tokens themselves (going back from a digest to a
    token is SHA-256's preimage problem). And it stays one set lookup for any number of
    instances, where hmac.compare_digest against each token would cost one per instance.
    """
    return hashlib.sha256(token).digest()


def uri_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def make_hop(label: str, host: str, port: int, transport: str, socket: str,
             fr_timer: int, fr_inv_timer: int) -> Hop:  # fmt: skip
    host = uri_host(host)
    tail = f"{host}:{port}" if port else host
    if transport != "udp":
        tail += f";transport={transport}"
    return Hop(label, "@" + tail, "sip:" + tail, host, socket, fr_timer, fr_inv_timer)


def header_text(headers: tuple[tuple[str, str], ...]) -> str:
    return "".join(f"{name}: {value}\r\n" for name, value in headers)


class NetworkMap:
    """Longest-prefix match of an address over many networks: one dict per prefix length."""

    __slots__ = ("_by_length", "_lengths")

    def __init__(self, entries: list[tuple[int, int, Source]]) -> None:
        by_length: dict[int, dict[int, Source]] = {}
        for network, length, source in entries:
            by_length.setdefault(length, {})[network] = source
        self._by_length = by_length
        self._lengths = tuple(sorted(by_length, reverse=True))

    def lookup(self, address: int, bits: int) -> Source | None:
        for length in self._lengths:
            network = (address >> (bits - length)) << (bits - length) if length else 0
            found = self._by_length[length].get(network)
            if found is not None:
                return found
        return None

    def __len__(self) -> int:
        return sum(len(entries) for entries in self._by_length.values())


@dataclass(frozen=True, slots=True)
class DidRanges:
    """Non-overlapping ranges of one number length, sorted by start for bisection."""

    starts: tuple[str, ...]
    rows: tuple[DidRow, ...]

    def find(self, number: str) -> DidRow | None:
        index = bisect.bisect_right(self.starts, number) - 1
        if index >= 0:
            row = self.rows[index]
            if number <= row.range_end:
                return row
        return None


def _sort_rule_key(rule: RuleRow) -> tuple[int, int, int, int, int]:
    # Static part of the choice between rules of one prefix: longer caller prefix, windowed
    # (more specific) first, tenant's own first, lower priority, then id for stability.
    return (
        -len(rule.caller_prefix),
        0 if rule.window is not None else 1,
        0 if rule.tenant_id is not None else 1,
        rule.priority,
        rule.id,
    )


@dataclass(frozen=True, slots=True)
class Table:
    version: int
    built_at: datetime
    defaults: Defaults
    tenants: dict[int, TenantRow]
    pbxs: dict[int, PbxRow]
    carriers: dict[int, CarrierRow]
    gateways: dict[int, GatewayRow]
    gateways_by_carrier: dict[int, tuple[GatewayRow, ...]]
    sources_v4: NetworkMap
    sources_v6: NetworkMap
    domains: dict[str, DomainRow]
    dids_exact: dict[str, DidRow]
    dids_prefix: dict[str, DidRow]
    did_prefix_lengths: tuple[int, ...]
    did_ranges: dict[int, DidRanges]
    # scope (tenant id, or None for the global rules) -> prefix_key(destination prefix) ->
    # a plain rule's int, a RuleRow, or a tuple of RuleRows statically ordered (see "the
    # rule index" above); the plain rules' target lists by slot; how many rules have a
    # prefix of each length, and those lengths, longest first.
    rules: RuleIndex
    target_lists: TargetLists
    rule_lengths: dict[int, int]
    rule_prefix_lengths: tuple[int, ...]
    # SHA-256 of each enabled router instance's token (token_digest): the endpoint looks up
    # the digest of the token it got, never compares the tokens themselves.
    token_digests: frozenset[bytes]
    counts: dict[str, int]
    left_out: tuple[LeftOut, ...]
    gateway_hops: dict[int, Hop]
    pbx_hops: dict[int, Hop]
    carrier_headers: dict[int, str]  # extra header lines, joined once
    # Capacity: limit key ("t12": tenant 12, "p", "c", "g", "s": PBX, carrier, gateway, IP
    # source) -> its item in an answer's limit spec (limit_item), for the rows that have a
    # limit, and who it is for people: (kind, name). Kamailio counts them (kamailio.cfg,
    # "capacity").
    limits: dict[str, str]
    limit_owners: dict[str, tuple[str, str]]
    # What an answer carries, joined once per table: a PBX's (its tenant's and its own
    # items: a call from it, or a route to it), a gateway's (its carrier's and its own), a
    # carrier's (a call from it). Absent: no limit.
    pbx_limits: dict[int, str]
    gateway_limits: dict[int, str]
    carrier_limits: dict[int, str]
    # Failover groups of a rule's targets, filled on first use; keyed by the id() of the
    # targets tuple, which rules share and the table keeps alive.
    target_groups: dict[int, tuple[tuple[TargetRow, ...], ...]]
    # Number lists (routing.engine.lists): the compiled entries by list id (a patch keeps
    # those of the lists it did not touch), and the enabled lists by attachment, by id.
    list_entries: dict[int, ListEntries]
    lists_global: tuple[ListCheck, ...]
    lists_by_tenant: dict[int, tuple[ListCheck, ...]]
    lists_by_carrier: dict[int, tuple[ListCheck, ...]]
    # Gateways down or demoted (carrier health), by id: empty when all are healthy; and the
    # health version they are at (replaced alone when only health changed: with_health()).
    health: dict[int, HealthRow] = field(default_factory=dict)
    health_version: int = 0
    # Least-cost routing (routing.engine.rates): each carrier's buy deck and each tenant's
    # sell deck, by owner id (compiled arrays: a patch keeps those of the decks it did not
    # touch, and gives an edited deck an overlay).
    carrier_decks: dict[int, Deck] = field(default_factory=dict)
    tenant_decks: dict[int, Deck] = field(default_factory=dict)
    # Least-cost outcomes remembered by the rule, the tenant and the rates matched
    # (routing.engine.decide._least_cost): a table's decks and rules never change, so a new
    # table starts an empty one (with_health() keeps it: health does not price).
    lcr_memo: dict[tuple[object, ...], Any] = field(default_factory=dict)
    # Portability: the enabled LNP rules by tenant id (None: global), longest prefix first,
    # and the ported numbers (routing.engine.lnp).
    lnp_rules: dict[int | None, tuple[LnpRuleRow, ...]] = field(default_factory=dict)
    ported: PortedNumbers = EMPTY_PORTED
    # Currency conversion (routing.engine.fx): currency -> what one unit is worth in the
    # base currency, exact, the base itself at 1. Read with the small tables: an exchange
    # rate edit patches the table (a new lcr_memo) and re-reads no deck.
    fx: dict[str, Fraction] = field(default_factory=lambda: {"USD": Fraction(1)})
    base_currency: str = "USD"

    def find_source(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> Source | None:
        if address.version == 4:
            return self.sources_v4.lookup(int(address), 32)
        return self.sources_v6.lookup(int(address), 128)

    def rule_entry(self, tenant_id: int | None, prefix: str) -> RuleEntry | None:
        """The index's entry for one scope and prefix, as stored (see "the rule index")."""
        scope = self.rules.get(tenant_id)
        key = prefix_key(prefix)
        return scope[key & SHARD_MASK].get(key) if scope is not None else None

    def rules_at(self, tenant_id: int | None, prefix: str) -> tuple[RuleRow, ...]:
        """The rules of one scope and prefix, best first."""
        entry = self.rule_entry(tenant_id, prefix)
        return bucket(entry, tenant_id, prefix, self.target_lists.lists)

    def rule_buckets(self) -> Iterator[tuple[int | None, str, tuple[RuleRow, ...]]]:
        """Every (scope, prefix, rules best first) of the index (slow: for tests and tools)."""
        lists = self.target_lists.lists
        for tenant_id, scope in self.rules.items():
            for shard in scope:
                for key, entry in shard.items():
                    prefix = key_prefix(key)
                    yield tenant_id, prefix, bucket(entry, tenant_id, prefix, lists)

    def find_did(self, number: str) -> DidRow | None:
        """Exact number first, then a range holding it, then the longest prefix."""
        row = self.dids_exact.get(number)
        if row is not None:
            return row
        ranges = self.did_ranges.get(len(number))
        if ranges is not None:
            row = ranges.find(number)
            if row is not None:
                return row
        for length in self.did_prefix_lengths:
            if length <= len(number):
                row = self.dids_prefix.get(number[:length])
                if row is not None:
                    return row
        return None


def with_health(table: Table, health: tuple[HealthRow, ...], health_version: int) -> Table:
    """The same table with other health rows: every index shared, nothing rebuilt."""
    return dataclasses.replace(
        table,
        health={row.gateway_id: row for row in health if row.gateway_id in table.gateways},
        health_version=health_version,
    )


class TableError(ValueError):
    """Rows that cannot form a table (a bug upstream: the database constraints forbid them)."""


def build_table(
    rows: TableRows,
    *,
    version: int = 0,
    defaults: Defaults | None = None,
    built_at: datetime | None = None,
    rules: RuleIndexBuilder | None = None,
) -> Table:
    """A whole table from all the rows: rows.rules, or the rules already fed to `rules`
    (the loader's way: a million rules never sit in memory as rows)."""
    defaults = defaults or Defaults()
    if rules is None:
        rules = RuleIndexBuilder()
        for rule in rows.rules:
            rules.add(rule)
    index, target_lists, lengths = rules.finish()
    return _assemble(
        rows,
        index,
        target_lists,
        lengths,
        _index_dids(rows.dids),
        rows.list_entries,
        rows.ported or EMPTY_PORTED,
        version=version,
        defaults=defaults,
        built_at=built_at,
    )


@dataclass(frozen=True, slots=True)
class _DidIndex:
    exact: dict[str, DidRow]
    prefix: dict[str, DidRow]
    ranges: dict[int, DidRanges]

    @property
    def count(self) -> int:
        return len(self.exact) + len(self.prefix) + sum(len(r.rows) for r in self.ranges.values())


def _ranges(items: list[DidRow]) -> DidRanges:
    items.sort(key=lambda row: row.number)
    return DidRanges(starts=tuple(row.number for row in items), rows=tuple(items))


def _index_dids(dids: tuple[DidRow, ...] | list[DidRow]) -> _DidIndex:
    exact: dict[str, DidRow] = {}
    prefix: dict[str, DidRow] = {}
    ranges: dict[int, list[DidRow]] = {}
    for did in dids:
        if not did.enabled:
            continue
        if did.match == "exact":
            exact[did.number] = did
        elif did.match == "prefix":
            prefix[did.number] = did
        elif did.match == "range":
            ranges.setdefault(len(did.number), []).append(did)
        else:
            raise TableError(f"DID #{did.id}: unknown match {did.match!r}")
    return _DidIndex(exact, prefix, {length: _ranges(items) for length, items in ranges.items()})


def _lengths_order(lengths: dict[int, int]) -> tuple[int, ...]:
    return tuple(sorted((length for length, count in lengths.items() if count), reverse=True))


def _assemble(
    rows: TableRows,
    rules: RuleIndex,
    target_lists: TargetLists,
    rule_lengths: dict[int, int],
    dids: _DidIndex,
    list_entries: dict[int, ListEntries],
    ported: PortedNumbers,
    *,
    version: int,
    defaults: Defaults,
    built_at: datetime | None,
) -> Table:
    """The table around its big indexes, with the small tables (rows.rules and rows.dids
    are not read here) indexed afresh."""
    tenants = {row.id: row for row in rows.tenants}
    pbxs = {row.id: row for row in rows.pbxs}
    carriers = {row.id: row for row in rows.carriers}
    gateways = {row.id: row for row in rows.gateways}
    by_carrier: dict[int, list[GatewayRow]] = {}
    for gateway in sorted(rows.gateways, key=lambda g: g.id):
        by_carrier.setdefault(gateway.carrier_id, []).append(gateway)

    v4: list[tuple[int, int, Source]] = []
    v6: list[tuple[int, int, Source]] = []
    for source in rows.sources:
        try:
            network = parse_network(source.cidr, strict=False)  # no scope id
        except ValueError as exc:
            raise TableError(f"IP source {source.cidr!r}: {exc}") from None
        limited = source.id is not None and (
            source.max_calls is not None or source.max_cps is not None
        )
        entry = Source(
            cidr=str(network),
            carrier=carriers.get(source.carrier_id) if source.carrier_id is not None else None,
            pbx=pbxs.get(source.pbx_id) if source.pbx_id is not None else None,
            enabled=source.enabled,
            limits=limit_item(f"s{source.id}", source.max_calls, source.max_cps) if limited else "",
        )
        if entry.carrier is None and entry.pbx is None:
            raise TableError(f"IP source {source.cidr!r} has no owner")
        target = v4 if network.version == 4 else v6
        target.append((int(network.network_address), network.prefixlen, entry))

    gateway_hops = {}
    for g in rows.gateways:
        carrier = carriers.get(g.carrier_id)
        label = f"gateway {carrier.name if carrier else '?'}/{g.name}"
        gateway_hops[g.id] = make_hop(
            label, g.host, g.port, g.transport, g.socket,
            g.fr_timer or defaults.fr_timer, g.fr_inv_timer or defaults.fr_inv_timer,
        )  # fmt: skip
    pbx_hops = {}
    for p in rows.pbxs:
        tenant = tenants.get(p.tenant_id)
        label = f"PBX {tenant.name if tenant else '?'}/{p.name}"
        pbx_hops[p.id] = make_hop(
            label, p.host, p.port, p.transport, p.socket,
            p.fr_timer or defaults.fr_timer, p.fr_inv_timer or defaults.fr_inv_timer,
        )  # fmt: skip

    lists_global: list[ListCheck] = []
    lists_by_tenant: dict[int, list[ListCheck]] = {}
    lists_by_carrier: dict[int, list[ListCheck]] = {}
    entries_kept: dict[int, ListEntries] = {}
    for number_list in sorted(rows.number_lists, key=lambda row: row.id):
        if not number_list.enabled:
            continue
        entries = list_entries.get(number_list.id)
        if entries is None:
            raise TableError(f"number list #{number_list.id}: its entries were not read")
        entries_kept[number_list.id] = entries
        item = ListCheck(number_list, entries)
        if number_list.carrier_id is not None:
            lists_by_carrier.setdefault(number_list.carrier_id, []).append(item)
        elif number_list.tenant_id is not None:
            lists_by_tenant.setdefault(number_list.tenant_id, []).append(item)
        else:
            lists_global.append(item)

    return Table(
        version=version,
        built_at=built_at or datetime.now().astimezone(),
        defaults=defaults,
        tenants=tenants,
        pbxs=pbxs,
        carriers=carriers,
        gateways=gateways,
        gateways_by_carrier={key: tuple(items) for key, items in by_carrier.items()},
        sources_v4=NetworkMap(v4),
        sources_v6=NetworkMap(v6),
        domains={row.name.lower(): row for row in rows.domains},
        dids_exact=dids.exact,
        dids_prefix=dids.prefix,
        did_prefix_lengths=tuple(sorted({len(p) for p in dids.prefix}, reverse=True)),
        did_ranges=dids.ranges,
        rules=rules,
        target_lists=target_lists,
        rule_lengths=rule_lengths,
        rule_prefix_lengths=_lengths_order(rule_lengths),
        token_digests=frozenset(token_digest(token.encode()) for token in rows.tokens),
        left_out=rows.left_out,
        gateway_hops=gateway_hops,
        pbx_hops=pbx_hops,
        carrier_headers={c.id: header_text(c.extra_headers) for c in rows.carriers},
        **_limits(rows),
        target_groups={},
        list_entries=entries_kept,
        lists_global=tuple(lists_global),
        lists_by_tenant={key: tuple(items) for key, items in lists_by_tenant.items()},
        lists_by_carrier={key: tuple(items) for key, items in lists_by_carrier.items()},
        health={row.gateway_id: row for row in rows.health if row.gateway_id in gateways},
        carrier_decks={
            deck.carrier_id: build_deck(deck)
            for deck in rows.rate_decks
            if deck.carrier_id is not None
        },
        tenant_decks={
            deck.tenant_id: build_deck(deck)
            for deck in rows.rate_decks
            if deck.tenant_id is not None
        },
        lnp_rules=index_lnp_rules(rows.lnp_rules),
        ported=ported,
        fx={**dict(rows.exchange_rates), rows.base_currency: Fraction(1)},
        base_currency=rows.base_currency,
        counts={
            "tenants": len(tenants),
            "carriers": len(carriers),
            "gateways": len(gateways),
            "pbxs": len(pbxs),
            "sources": len(v4) + len(v6),
            "domains": len(rows.domains),
            "dids": dids.count,
            "rules": sum(rule_lengths.values()),
            "number_lists": len(entries_kept),
            "list_entries": sum(entries.count for entries in entries_kept.values()),
            "lnp_rules": sum(1 for row in rows.lnp_rules if row.enabled),
            "ported_numbers": ported.count,
        },
    )


# --- capacity limits -----------------------------------------------------------------------


def limit_item(key: str, max_calls: int | None, max_cps: int | None) -> str:
    """One limit as Kamailio's capacity script reads it: `key:calls:cps`, "-" for none
    (kamailio_cfg/capacity.lua). Plain ASCII from ints and a fixed letter: nothing to quote."""
    calls = "-" if max_calls is None else str(max_calls)
    cps = "-" if max_cps is None else str(max_cps)
    return f"{key}:{calls}:{cps}"


class _Limits(TypedDict):
    limits: dict[str, str]
    limit_owners: dict[str, tuple[str, str]]
    pbx_limits: dict[int, str]
    gateway_limits: dict[int, str]
    carrier_limits: dict[int, str]


def _limits(rows: TableRows) -> _Limits:
    limits: dict[str, str] = {}
    owners: dict[str, tuple[str, str]] = {}
    for letter, kind, items in (
        ("t", "tenant", rows.tenants),
        ("p", "pbx", rows.pbxs),
        ("c", "carrier", rows.carriers),
        ("g", "gateway", rows.gateways),
        ("s", "ip_source", rows.sources),
    ):
        for row in items:
            if row.max_calls is not None or row.max_cps is not None:
                key = f"{letter}{row.id}"
                limits[key] = limit_item(key, row.max_calls, row.max_cps)
                name = row.cidr if letter == "s" else row.name  # type: ignore[union-attr]
                owners[key] = (kind, name)

    def spec(*keys: str) -> str:
        return " ".join([limits[key] for key in keys if key in limits])

    pbx_limits = {p.id: spec(f"t{p.tenant_id}", f"p{p.id}") for p in rows.pbxs}
    gateway_limits = {g.id: spec(f"c{g.carrier_id}", f"g{g.id}") for g in rows.gateways}
    carrier_limits = {c.id: spec(f"c{c.id}") for c in rows.carriers}
    return {
        "limits": limits,
        "limit_owners": owners,
        "pbx_limits": {key: text for key, text in pbx_limits.items() if text},
        "gateway_limits": {key: text for key, text in gateway_limits.items() if text},
        "carrier_limits": {key: text for key, text in carrier_limits.items() if text},
    }


# --- patching: a new table from an old one and a few changed rows -----------------------------


@dataclass(frozen=True, slots=True)
class Patch:
    """What changed since a table was built, as the loader read it from the change log.

    rules_moved / dids_moved: (id, where the old table may hold it) for every changed row,
    where is (tenant id, prefix) for a rule, the number for a DID, or None for a new row;
    rules / dids: the changed rows as they are now (absent when deleted).
    """

    small: TableRows  # every table but rules and DIDs, whole
    rules_moved: tuple[tuple[int, tuple[int | None, str] | None], ...] = ()
    rules: tuple[RuleRow, ...] = ()
    dids_moved: tuple[tuple[int, str | None], ...] = ()
    dids: tuple[DidRow, ...] = ()
    # The lists whose entries changed, and the new entries of those still enabled (the
    # other lists keep the old table's; patch.small.number_lists has every list's settings).
    lists_changed: frozenset[int] = frozenset()
    list_entries: dict[int, ListEntries] = field(default_factory=dict)


def patch_table(
    old: Table, patch: Patch, *, version: int, built_at: datetime | None = None
) -> Table:
    """A new table: the old one's rules and DIDs with the patch applied, the small tables
    from the patch. The old table is not modified (requests may still be reading it)."""
    rules, lengths = _patch_rules(old, patch)
    return _assemble(
        patch.small,
        rules,
        old.target_lists,
        lengths,
        _patch_dids(old, patch),
        _patch_lists(old, patch),
        patch.small.ported if patch.small.ported is not None else old.ported,
        version=version,
        defaults=old.defaults,
        built_at=built_at,
    )


def _patch_rules(old: Table, patch: Patch) -> tuple[RuleIndex, dict[int, int]]:
    """The new rule index and its rule count per prefix length. Rebuilds only the touched
    buckets, in copies of the touched scopes (the old index is not modified)."""
    if not patch.rules_moved:
        return old.rules, old.rule_lengths
    changed = {rule_id for rule_id, _ in patch.rules_moved}
    arriving: dict[tuple[int | None, str], list[RuleRow]] = {}
    for rule in patch.rules:
        if rule.enabled:
            arriving.setdefault((rule.tenant_id, rule.prefix), []).append(rule)
    touched = {where for _, where in patch.rules_moved if where is not None}
    touched.update(arriving)
    pool = old.target_lists
    lists = pool.lists
    index = dict(old.rules)  # shallow: only the touched scopes and shards are copied below
    lengths = dict(old.rule_lengths)
    copied: set[int | None] = set()
    copied_shards: set[tuple[int | None, int]] = set()
    # Slots of the target lists already in the touched buckets: an edited (or moved) rule
    # whose targets did not change keeps its slot, and the pool does not grow.
    known: dict[tuple[TargetRow, ...], int] = {}
    for tenant_id, prefix in touched:
        entry = old.rule_entry(tenant_id, prefix)
        if entry.__class__ is int:
            known[lists[entry >> _ID_BITS]] = entry >> _ID_BITS
    for tenant_id, prefix in touched:
        if tenant_id not in copied:
            index[tenant_id] = list(index[tenant_id]) if tenant_id in index else _new_scope()
            copied.add(tenant_id)
        key = prefix_key(prefix)
        number = key & SHARD_MASK
        if (tenant_id, number) not in copied_shards:
            index[tenant_id][number] = dict(index[tenant_id][number])
            copied_shards.add((tenant_id, number))
        scope = index[tenant_id][number]
        before = bucket(scope.get(key), tenant_id, prefix, lists)
        kept = [rule for rule in before if rule.id not in changed]
        kept.extend(arriving.get((tenant_id, prefix), ()))
        lengths[len(prefix)] = lengths.get(len(prefix), 0) + len(kept) - len(before)
        if len(kept) > 1:
            scope[key] = tuple(sorted(kept, key=_sort_rule_key))
        elif kept:
            (rule,) = kept
            slot = known.get(rule.targets) if is_plain(rule) else None
            if slot is None and rule.id in changed and is_plain(rule):
                slot = known[rule.targets] = pool.slot(rule.targets)
            # A kept plain rule whose slot is unknown stays a RuleRow: correct, if bigger.
            scope[key] = rule if slot is None else rule.id | slot << _ID_BITS
        else:
            scope.pop(key, None)
    for tenant_id in copied:
        if not any(index[tenant_id]):
            del index[tenant_id]
    return index, {length: count for length, count in lengths.items() if count}


def _patch_dids(old: Table, patch: Patch) -> _DidIndex:
    index = _DidIndex(old.dids_exact, old.dids_prefix, old.did_ranges)
    if not patch.dids_moved:
        return index
    changed = {did_id for did_id, _ in patch.dids_moved}
    numbers = {number for _, number in patch.dids_moved if number is not None}
    numbers.update(did.number for did in patch.dids)
    exact, prefix = dict(index.exact), dict(index.prefix)
    for table in (exact, prefix):
        for number in numbers:
            row = table.get(number)
            if row is not None and row.id in changed:
                del table[number]
    lengths = {len(number) for number in numbers}
    new_ranges: dict[int, list[DidRow]] = {
        length: [row for row in index.ranges[length].rows if row.id not in changed]
        for length in lengths
        if length in index.ranges
    }
    for did in patch.dids:
        if not did.enabled:
            continue
        if did.match == "exact":
            exact[did.number] = did
        elif did.match == "prefix":
            prefix[did.number] = did
        else:
            new_ranges.setdefault(len(did.number), []).append(did)
    ranges = dict(index.ranges)
    for length in lengths | set(new_ranges):
        items = new_ranges.get(length, [])
        if items:
            ranges[length] = _ranges(items)
        else:
            ranges.pop(length, None)
    return _DidIndex(exact, prefix, ranges)


def _patch_lists(old: Table, patch: Patch) -> dict[int, ListEntries]:
    """The compiled entries of every enabled list: the changed lists' from the patch, the
    others' from the old table (a list enabled again was logged as changed: re-read)."""
    entries = {
        list_id: compiled
        for list_id, compiled in old.list_entries.items()
        if list_id not in patch.lists_changed
    }
    entries.update(patch.list_entries)
    return entries
