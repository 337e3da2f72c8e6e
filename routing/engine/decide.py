"""The routing decision: a parsed query and a compiled table in, a Decision out.

Pure: no clock, no randomness and no I/O of its own (the caller passes `now` and an RNG),
so tests can replay any decision. The steps:

1. the source: the longest matching trusted network says who sent the call, a carrier
   (inbound traffic) or a PBX (outbound traffic); anything else is refused (403);
2. the numbers, normalized to E.164 with the sender's rules;
3. the number lists of the call (global, and its tenant's): a block list holding a number,
   or an allow list not holding it, refuses the call with the list's code and reason;
4. outbound, when an LNP rule covers the called number: its routing number (LRN) from the
   portability database, routed on in step 5 while the Request-URI keeps the dialled
   number (with ;npdi;rn=+<LRN> for carriers that want it, RFC 4694); a Request-URI with
   `npdi` was looked up upstream: not looked up again, routed on its `rn=` if it has one,
   and its npdi and rn go on to every carrier (once, however many there were);
5. inbound: the DID (exact, then range, then longest prefix) gives the PBX, else the To
   domain does; outbound: the best route rule (see RouteRule) gives ordered targets, less
   the carriers whose number lists refuse the call, or its own refusal (a rule that
   rejects: its SIP code and reason);
6. each target's number and headers, translated for that target.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction
from operator import attrgetter, itemgetter
from typing import Any, NamedTuple

from routing.engine.fx import convert, six
from routing.engine.fx import explain as explain_fx
from routing.engine.fx import missing as lacking_fx
from routing.engine.lists import Listed
from routing.engine.lists import check as check_lists
from routing.engine.lnp import Ported, find_lnp_rule
from routing.engine.numbers import CALLEE, CALLER, from_e164, strip_and_prefix, to_e164
from routing.engine.pricing import FIXED, customer_price
from routing.engine.pricing import describe as describe_policy
from routing.engine.query import Party, Query
from routing.engine.rates import (
    MICRO,
    Deck,
    Match,
    RateFacts,
    RateRow,
    find_match,
    margin_percent,
    number_probe,
    priced,
)
from routing.engine.table import (
    POW10,
    SHARD_MASK,
    CarrierRow,
    DidRow,
    DomainRow,
    GatewayRow,
    HealthRow,
    PbxRow,
    RuleRow,
    Source,
    Table,
    TargetRow,
    TenantRow,
    header_text,
    rule_of,
    uri_host,
)

CENT = Decimal("0.01")
ROUTED = 200
FORBIDDEN = 403
NOT_FOUND = 404
UNAVAILABLE = 480
ADDRESS_INCOMPLETE = 484

REASONS = {
    FORBIDDEN: "Forbidden",
    NOT_FOUND: "No Route",
    UNAVAILABLE: "Temporarily Unavailable",
    ADDRESS_INCOMPLETE: "Address Incomplete",
}

INBOUND = "inbound"
OUTBOUND = "outbound"


# Made per call: plain (not frozen) dataclasses, which construct faster.
@dataclass(slots=True)
class Route:
    """One destination, as rtjson will carry it."""

    target: str  # what it is, for people: "gateway Alpha Telecom/alpha-1"
    uri: str
    dst_uri: str
    socket: str
    from_display: str
    from_uri: str
    to_display: str
    to_uri: str
    extra_headers: str  # complete "Name: value\r\n" lines
    fr_timer: int
    fr_inv_timer: int
    # For the call records: what the route is (its ids) and the numbers it sends.
    to_user: str = ""
    from_user: str = ""
    carrier_id: int | None = None
    gateway_id: int | None = None
    pbx_id: int | None = None
    # Capacity: the limits this attempt counts against (table.gateway_limits or
    # pbx_limits; "" = none).
    limits: str = ""
    # Least-cost routing: the carrier's rate for the number and the customer's (None: no
    # deck, or a rule in priority mode).
    rate: CarrierPrice | None = None
    sell: RateRow | None = None
    sell_facts: RateFacts | None = None  # the answer's texts of `sell`


@dataclass(slots=True)
class CarrierPrice:
    """A least-cost rule's carrier: its matched rate, the margin it leaves, and why it was
    left out ("" when it was kept)."""

    carrier_id: int
    name: str
    currency: str = ""
    rate: RateRow | None = None
    left_out: str = ""
    # Under the tenant's pricing policy: the customer's rate for this carrier (its cost
    # plus the markup); None with a sell deck (Pricing.sell) or without either.
    sell: RateRow | None = None
    # The customer's rate the margin is of (the sell deck's or the policy's; None: none).
    against: RateRow | None = None
    facts: RateFacts | None = None  # of `rate`: millionths and the answer's texts
    sell_facts: RateFacts | None = None  # of `sell`
    # The order of Pricing.carriers: (0, the cost in millionths, name); in the base
    # currency (a Fraction) when the rule's carriers are in several currencies.
    key: tuple[int, int | Fraction, str] = (1, 0, "")
    # Its left_out names the called number (no rate for it): a decision not remembered.
    named_number: bool = False
    # The money keys of a route to this carrier in the answer, made by routing.engine.rtjson
    # at the first answer (a remembered outcome's carriers serve many calls), for the
    # customer's rate `answer_sell` they were made with.
    answer_keys: dict[str, object] | None = None
    answer_sell: RateRow | None = None
    # Currency conversion (routing.engine.fx): the cost in the sell deck's currency when
    # the deck is in another one (millionths, exact); the conversions used, as people read
    # them; and whether it was left out for want of an exchange rate to order it by (not
    # a margin: such carriers alone do not make the call "no profitable route").
    cost_in_sell: Fraction | None = None
    conversions: tuple[str, ...] = ()
    no_fx: bool = False

    @property
    def margin(self) -> Decimal | None:
        """The margin the carrier leaves, in percent of the customer's rate, two decimals
        (computed when read: the route tester and refusals read it, a call does not)."""
        if self.rate is None or self.against is None:
            return None
        if self.cost_in_sell is not None:  # converted: exact, then as margin_percent rounds
            sell = Fraction(self.against.rate) * MICRO
            if not sell:
                return None
            ratio = round((sell - self.cost_in_sell) * 100 / sell, 2)  # half even
            return (Decimal(ratio.numerator) / Decimal(ratio.denominator)).quantize(CENT)
        return margin_percent(self.rate.rate, self.against.rate)


@dataclass(slots=True)
class Pricing:
    """What a least-cost rule saw: the customer's rate and every carrier's, cheapest first."""

    mode: str
    sell: RateRow | None
    sell_currency: str
    min_margin: Decimal
    carriers: tuple[CarrierPrice, ...]
    policy: str = ""  # the tenant's pricing policy, as people read it ("cost + 20%")
    # What it says names the called number: not remembered (_least_cost).
    named_number: bool = False
    # Carrier id -> what its routes carry: its price, the customer's rate and its facts.
    routes: dict[int, tuple[CarrierPrice, RateRow | None, RateFacts | None]] = field(
        default_factory=dict
    )
    skips: tuple[str, ...] = ()  # why carriers were left out, as Decision.skipped says it


@dataclass(slots=True)
class Decision:
    code: int  # 200: routed; else the SIP code Kamailio replies with
    reason: str
    why: str  # one line for people: what decided
    direction: str = ""
    source: Source | None = None
    callee: str | None = None  # E.164 digits, when the called party is a number
    caller: str | None = None
    rule: RuleRow | None = None
    did: DidRow | None = None
    domain: DomainRow | None = None
    routes: tuple[Route, ...] = ()
    skipped: tuple[str, ...] = ()
    listed: Listed | None = None  # the number list that refused the call
    pricing: Pricing | None = None  # a least-cost rule's rates (route tester, call records)
    # A refusal with the operator's own code, for the metrics: "rejected" (a rule that
    # rejects), "no_profitable_route" (margin protection); "" otherwise.
    outcome: str = ""
    ported: Ported | None = None  # LNP: the called number is ported, routed on its LRN
    # LNP: the Request-URI said the lookup was done upstream (RFC 4694 npdi / rn).
    npdi: bool = False
    # Capacity: the limits the call counts against when it comes in: the IP source it came
    # from, and outbound, its tenant and PBX; inbound, the carrier it came from.
    limits: str = ""

    @property
    def routed(self) -> bool:
        return self.code == ROUTED


def _refuse(code: int, why: str, **context: object) -> Decision:
    return Decision(code=code, reason=REASONS[code], why=why, **context)  # type: ignore[arg-type]


def _listed(table: Table, tenant_id: int, callee: str | None, caller: str | None) -> Listed | None:
    """The global list, else the tenant's, that refuses the call (one dict probe and no
    lookup at all when there are no lists)."""
    if table.lists_global:
        found = check_lists(table.lists_global, callee, caller)
        if found is not None:
            return found
    own = table.lists_by_tenant.get(tenant_id)
    return check_lists(own, callee, caller) if own else None


def _refuse_listed(listed: Listed, context: dict[str, object]) -> Decision:
    return Decision(
        code=listed.row.code,
        reason=listed.row.reason,
        why=listed.why,
        listed=listed,
        **context,  # type: ignore[arg-type]
    )


def decide(query: Query, table: Table, now: datetime, rng: random.Random | None = None) -> Decision:
    source = table.find_source(query.source_ip)
    if source is None:
        return _refuse(FORBIDDEN, f"source {query.source_ip} is not a trusted network")
    if not source.enabled:
        return _refuse(FORBIDDEN, f"source network {source.cidr} is disabled", source=source)
    if source.carrier is not None:
        return _inbound(query, table, source, source.carrier)
    assert source.pbx is not None
    return _outbound(query, table, source, source.pbx, now, rng or random)  # type: ignore[arg-type]


# --- inbound: carrier -> DID or domain -> PBX ------------------------------------------------


def _inbound(query: Query, table: Table, source: Source, carrier: CarrierRow) -> Decision:
    if not carrier.enabled:
        return _refuse(FORBIDDEN, f"carrier {carrier.name} is disabled", source=source)
    callee = to_e164(query.callee.user, carrier.inbound, CALLEE)
    caller = to_e164(query.caller.user, carrier.inbound, CALLER)
    context = {"direction": INBOUND, "source": source, "callee": callee, "caller": caller}

    did = table.find_did(callee) if callee is not None else None
    domain = None
    if did is not None:
        pbx = table.pbxs[did.pbx_id]
        tenant_id = did.tenant_id
        matched = f"DID {_did_label(did)}"
    else:
        domain = table.domains.get(query.callee.host)
        if domain is None or not domain.enabled:
            shown = callee if callee is not None else query.callee.user
            return _refuse(
                NOT_FOUND,
                f"no DID matches {shown} and {query.callee.host or 'the To URI'} "
                "is not a served domain",
                **context,
            )
        if domain.pbx_id is None:
            return _refuse(NOT_FOUND, f"domain {domain.name} has no PBX", domain=domain, **context)
        pbx = table.pbxs[domain.pbx_id]
        tenant_id = domain.tenant_id
        matched = f"domain {domain.name}"
    context.update(did=did, domain=domain)

    tenant = table.tenants.get(tenant_id)
    if tenant is None or not tenant.enabled:
        return _refuse(UNAVAILABLE, f"{matched}: its tenant is disabled", **context)
    if not pbx.enabled:
        return _refuse(UNAVAILABLE, f"{matched}: PBX {pbx.name} is disabled", **context)
    listed = _listed(table, tenant.id, callee, caller)
    if listed is not None:
        return _refuse_listed(listed, context)

    callee_out = _user(from_e164(callee, pbx.outbound, CALLEE) if callee else query.callee.user)
    caller_out = _user(from_e164(caller, pbx.outbound, CALLER) if caller else query.caller.user)
    hop = table.pbx_hops[pbx.id]
    route = Route(
        target=hop.label,
        uri=f"sip:{callee_out}{hop.uri_tail}",
        dst_uri=hop.dst_uri,
        socket=hop.socket,
        from_display=query.caller.display,
        from_uri=f"sip:{caller_out}@{query.caller.host or hop.host}",
        to_display=query.callee.display,
        to_uri=f"sip:{callee_out}@{query.callee.host or hop.host}",
        extra_headers="",
        fr_timer=hop.fr_timer,
        fr_inv_timer=hop.fr_inv_timer,
        to_user=callee_out,
        from_user=caller_out,
        pbx_id=pbx.id,
        limits=table.pbx_limits.get(pbx.id, ""),
    )
    return Decision(
        code=ROUTED,
        reason="OK",
        why=f"inbound from carrier {carrier.name}: {matched} -> PBX {pbx.name}",
        routes=(route,),
        limits=_joined(source.limits, table.carrier_limits.get(carrier.id, "")),
        **context,  # type: ignore[arg-type]
    )


def _did_label(did: DidRow) -> str:
    if did.match == "range":
        return f"{did.number}-{did.range_end}"
    return f"{did.number}*" if did.match == "prefix" else did.number


# --- outbound: PBX -> rule -> carriers' gateways ---------------------------------------------


def _outbound(
    query: Query, table: Table, source: Source, pbx: PbxRow, now: datetime, rng: random.Random
) -> Decision:
    tenant = table.tenants.get(pbx.tenant_id)
    if tenant is None or not tenant.enabled:
        return _refuse(FORBIDDEN, f"PBX {pbx.name}: its tenant is disabled", source=source)
    if not pbx.enabled:
        return _refuse(FORBIDDEN, f"PBX {pbx.name} is disabled", source=source)
    callee = to_e164(query.callee.user, pbx.inbound, CALLEE)
    caller = to_e164(query.caller.user, pbx.inbound, CALLER)
    context = {"direction": OUTBOUND, "source": source, "callee": callee, "caller": caller}
    if callee is None:
        return _refuse(
            ADDRESS_INCOMPLETE,
            f"the called party {query.callee.user!r} is not a number",
            **context,
        )
    listed = _listed(table, tenant.id, callee, caller)
    if listed is not None:
        return _refuse_listed(listed, context)

    routing_number = callee
    ported = None
    # RFC 4694: npdi (or an rn) in the Request-URI: the number was looked up upstream.
    upstream_rn = None
    upstream = None  # what the Request-URI's user part keeps for every carrier
    if query.npdi or query.rn is not None:
        context["npdi"] = True
        if query.rn is not None:
            upstream_rn = to_e164(query.rn, pbx.inbound, CALLEE)
            if upstream_rn is None:
                return _refuse(
                    ADDRESS_INCOMPLETE, f"the routing number rn={query.rn!r} is not a number",
                    **context,
                )  # fmt: skip
        upstream = f";npdi;rn=+{upstream_rn}" if upstream_rn is not None else ";npdi"
    if table.lnp_rules:  # one dict test per call when LNP is off
        lnp_rule = find_lnp_rule(table.lnp_rules, tenant.id, callee)
        if lnp_rule is not None:
            if upstream is None:
                lrn = table.ported.find(callee, now)
                if lrn is not None and lrn != callee:
                    ported = Ported(lnp_rule, callee, lrn)
            elif upstream_rn is not None and upstream_rn != callee:
                ported = Ported(lnp_rule, callee, upstream_rn, upstream=True)
            if ported is not None:
                routing_number = ported.lrn
                context["ported"] = ported
    rule = find_rule(table, tenant.id, routing_number, caller or "", now)
    if rule is None:
        shown = f"{routing_number} (LRN of {callee})" if ported else callee
        return _refuse(NOT_FOUND, f"no route rule matches {shown}", **context)
    context["rule"] = rule
    if rule.reject_code:  # a deliberate block: the rule's own answer
        return Decision(
            code=rule.reject_code,
            reason=rule.reject_reason,
            why=f"{rule.label} rejects these calls",
            outcome="rejected",
            **context,  # type: ignore[arg-type]
        )

    groups = None
    pricing = None
    if rule.mode != PRIORITY:
        # Priced on the routing number: a ported number costs what its LRN costs.
        pricing, sell_facts, groups, refusal = _least_cost(table, rule, tenant, routing_number, now)
        context["pricing"] = pricing
        if refusal:
            return Decision(
                code=tenant.no_profit_code,
                reason=tenant.no_profit_reason,
                why=f"{rule.label}: {refusal}",
                skipped=tuple(_price_skips(pricing)),
                outcome="no_profitable_route",
                **context,  # type: ignore[arg-type]
            )
    gateways, skipped = order_gateways(table, rule, rng, callee, caller, groups)
    if pricing is not None and pricing.skips:
        skipped[:0] = pricing.skips
    if not gateways:
        return _refuse(
            UNAVAILABLE,
            f"{rule.label}: no enabled target ({'; '.join(skipped) or 'no targets'})",
            skipped=tuple(skipped),
            **context,
        )
    presented = rule.caller_id or caller
    lrn = ported.lrn if ported is not None else None
    routes = tuple(
        _gateway_route(query, table, rule, gateway, callee, presented, lrn, upstream)
        for gateway in gateways
    )
    if pricing is not None:
        priced_routes = pricing.routes
        for route in routes:
            found = priced_routes.get(route.carrier_id)  # type: ignore[arg-type]
            if found is not None:
                route.rate, route.sell, route.sell_facts = found
            else:
                route.sell, route.sell_facts = pricing.sell, sell_facts
    why = f"outbound from PBX {tenant.name}/{pbx.name}: {rule.label}"
    if ported is not None:
        why += f" on LRN {ported.lrn}"
    return Decision(
        code=ROUTED,
        reason="OK",
        why=why,
        routes=routes,
        skipped=tuple(skipped),
        limits=_joined(source.limits, table.pbx_limits.get(pbx.id, "")),
        **context,  # type: ignore[arg-type]
    )


def find_rule(
    table: Table, tenant_id: int, callee: str, caller: str, now: datetime
) -> RuleRow | None:
    """The best enabled rule: longest destination prefix, then the order of RouteRule's doc.

    `callee` is E.164 digits. Its first n digits have the index key
    number // 10 ** (len - n) + 10 ** n (table.prefix_key): one int division per length
    probed, no string slicing or hashing.
    """
    rules = table.rules
    scopes = [(scope_id, rules[scope_id]) for scope_id in (tenant_id, None) if scope_id in rules]
    lengths = table.rule_prefix_lengths
    if not scopes or not lengths:
        return None
    head = callee[: lengths[0]]
    size = len(head)
    number = int(head) if head else 0
    for length in lengths:
        if length > size:
            continue
        key = number // POW10[size - length] + POW10[length]
        shard = key & SHARD_MASK
        best = None
        best_key = None
        # Each bucket is sorted by the static key, so its first usable rule is its best.
        for scope_id, scope in scopes:
            entry = scope[shard].get(key)
            if entry is None:
                continue
            if entry.__class__ is int:  # a plain rule: any caller, any time
                rule = rule_of(entry, scope_id, callee[:length], table.target_lists.lists)
                candidates: tuple[RuleRow, ...] = (rule,)
            else:
                candidates = (entry,) if entry.__class__ is RuleRow else entry  # type: ignore[assignment]
            for rule in candidates:
                if not caller.startswith(rule.caller_prefix):
                    continue
                if rule.window is not None and not rule.window.is_open(now):
                    continue
                rank = (
                    -len(rule.caller_prefix),
                    0 if rule.window is not None else 1,
                    0 if rule.tenant_id is not None else 1,
                    rule.priority,
                    rule.id,
                )
                if best_key is None or rank < best_key:
                    best, best_key = rule, rank
                break
        if best is not None:
            return best
    return None


PRIORITY = "priority"
LCR_BAND = "lcr_band"


# At most this many least-cost outcomes are remembered per table (about 1 KB each).
LCR_MEMO_MAX = 20_000
_Outcome = tuple[Pricing, RateFacts | None, tuple[tuple[TargetRow, ...], ...], str]


def _least_cost(
    table: Table, rule: RuleRow, tenant: TenantRow, callee: str, now: datetime
) -> _Outcome:
    """A least-cost rule's targets as failover groups, cheapest first; what the rates were
    (and the sell rate's facts); and why the call is refused when margin protection leaves
    no carrier ("" otherwise).

    A target's carrier (a gateway target: its gateway's) is priced by the longest prefix
    of its deck in effect now; no deck or no rate: left out. With the tenant's sell deck,
    a carrier is also left out when its rate leaves less than the tenant's minimum margin
    (a deck in another currency: its rate converted into the sell deck's, routing.engine.fx;
    without the exchange rate, left out); a number the sell deck has no rate for is
    refused. Carriers kept in several currencies are compared in the base currency.
    Groups: "lcr", the targets of one rate and one order (shared by weight);
    "lcr_band", the targets within band_percent of the cheapest remaining one, by order.

    The outcome depends on the rule, the tenant and the rates matched, nothing else: it is
    remembered in the table (table.lcr_memo) by those matches (find_match: a rate's index
    in its deck's arrays), so the calls to the numbers of one prefix price their carriers
    once per table. An outcome that names the number (a deck without a rate for it) is not
    remembered. The memo also keeps, by (rule id, tenant id), which decks the rule reads
    and the rule's points (_Plan): a call whose point has an outcome for its moment needs
    no deck lookup at all.

    Computed in integers (rates in millionths, RateFacts, made once per deck palette
    entry; margins cross-multiplied): the same answers as the Decimal arithmetic of
    routing.engine.rates.profitable and pricing.customer_rate (tests/engine/test_pricing_int.py).
    """
    memo = table.lcr_memo
    plan: _Plan | None = memo.get((rule.id, tenant.id))
    if plan is None:
        plan = memo[(rule.id, tenant.id)] = _plan(table, rule, tenant)
    points = plan.points
    point = None
    within = rule.prefix  # the number's prefix every call of the rule shares
    if points is not None and callee.startswith(within) and callee.isascii() and callee.isdigit():
        # The number's point: its longest prefix that one of the decks holds, at least the
        # rule's (always among the points). Every deck's longest prefix of the number is
        # then its longest prefix of the point: the numbers of one point match the same
        # rates.
        k = plan.depth if plan.depth < len(callee) else len(callee)
        point = callee[:k]
        entry: tuple[datetime, datetime, _Outcome] | None = points.get(point, _NOT_A_POINT)
        while entry is _NOT_A_POINT:
            k -= 1
            point = callee[:k]
            entry = points.get(point, _NOT_A_POINT)
        if entry is not None and entry[0] <= now < entry[1]:
            return entry[2]
    # Not a point priced for this moment (or a rule without points): each deck looked up.
    probe = number_probe(callee)
    key: list[object] = [rule.id, tenant.id]
    for deck in plan.every:
        key.append(None if deck is None else find_match(deck, callee, now, probe, within))
    found = tuple(key)
    outcome: _Outcome | None = memo.get(found)
    if outcome is None:
        matches = dict(zip(plan.carriers, key[3:], strict=True))
        outcome = _priced_outcome(table, rule, tenant, callee, plan, key[2], matches)  # type: ignore[arg-type]
        if outcome[0].named_number:
            return outcome
        if len(memo) >= LCR_MEMO_MAX:
            memo.clear()  # (the plans and their points too)
        memo[found] = outcome
    if point is not None:
        points[point] = (*_steady(plan, probe, now), outcome)  # type: ignore[index]
    return outcome


# A rule's points: its prefix and the decks' prefixes under it, read for a rule and tenant
# when they are at most about LCR_POINTS_READ rates in all its decks (past that, each call
# looks its rates up; reading them is the rule's first call's, about 0.5 us a rate); at
# most LCR_POINTS_MAX in a table's plans (about 150 B each with their outcome).
LCR_POINTS_READ = 2_000
LCR_POINTS_MAX = 200_000
_NOT_A_POINT: Any = object()  # (typed Any: a get() default, never returned)
_EVER = datetime.min.replace(tzinfo=UTC)
_NEVER = datetime.max.replace(tzinfo=UTC)


def _steady(plan: _Plan, probe: tuple[int, int], now: datetime) -> tuple[datetime, datetime]:
    """The moments between which every deck of the plan finds the same rates for the
    number (DeckRates.steady): its point's outcome holds from the first, until the second."""
    since, until = _EVER, _NEVER
    key, size = probe
    for deck in plan.every:
        if deck is not None:
            start, end = deck.rates.steady(key, size, now)
            if start is not None and start > since:
                since = start
            if end is not None and end < until:
                until = end
    return since, until


class _Plan:
    """What a least-cost rule looks up for a tenant (remembered in table.lcr_memo by (rule
    id, tenant id)): its sell deck, each target's carrier (a gateway target: its
    gateway's) once, in the targets' order, and `every` deck in the order of the memo's
    keys (the sell deck first; None: no deck).

    `points`: the rule's prefix and every prefix of its decks under it (None: too many, or
    a deck with an overlay), each with its outcome when priced: (from, until, outcome),
    the moments between which no rate the point's numbers match starts or ends (None: not
    priced yet); `depth`, the longest point's length."""

    __slots__ = ("carriers", "depth", "every", "points", "sell_deck", "targets")

    def __init__(
        self,
        sell_deck: Deck | None,
        carriers: tuple[int, ...],
        decks: tuple[Deck | None, ...],
        targets: tuple[tuple[TargetRow, int], ...],
    ) -> None:
        self.sell_deck = sell_deck
        self.carriers = carriers
        self.every = (sell_deck, *decks)
        self.targets = targets  # each target with its carrier id
        self.points: dict[str, tuple[datetime, datetime, _Outcome] | None] | None = None
        self.depth = 0


def _plan(table: Table, rule: RuleRow, tenant: TenantRow) -> _Plan:
    targets = []  # each target with its carrier (a gateway target: its gateway's)
    carriers: dict[int, Deck | None] = {}
    for target in rule.targets:
        if target.carrier_id is not None:
            carrier_id = target.carrier_id
        else:
            gateway = table.gateways.get(target.gateway_id)  # type: ignore[arg-type]
            if gateway is None:
                continue  # (a target keeps its gateway: PROTECT in the database)
            carrier_id = gateway.carrier_id
        targets.append((target, carrier_id))
        if carrier_id not in carriers:
            carriers[carrier_id] = table.carrier_decks.get(carrier_id)
    plan = _Plan(
        table.tenant_decks.get(tenant.id), tuple(carriers), tuple(carriers.values()),
        tuple(targets),
    )  # fmt: skip
    _find_points(table, rule, plan)
    return plan


def _find_points(table: Table, rule: RuleRow, plan: _Plan) -> None:
    """The plan's points, when its decks' prefixes under the rule's are few enough (and the
    table's plans hold fewer than LCR_POINTS_MAX)."""
    prefix = rule.prefix
    if not (prefix.isascii() and prefix.isdigit()):
        return
    held = table.lcr_memo.get(_POINTS_HELD, 0)
    if held >= LCR_POINTS_MAX:
        return
    found = {prefix}
    left = LCR_POINTS_READ  # in all the decks: a rule's first call reads at most these
    for deck in plan.every:
        if deck is not None:
            under = deck.rates.prefixes_under(prefix, left)
            if under is None:
                return
            left -= len(under)
            found.update(under)
    plan.points = dict.fromkeys(found)
    plan.depth = max(map(len, found))
    table.lcr_memo[_POINTS_HELD] = held + len(found)


_POINTS_HELD = ("points",)  # table.lcr_memo's count of its plans' points


def _priced_outcome(
    table: Table,
    rule: RuleRow,
    tenant: TenantRow,
    callee: str,
    plan: _Plan,
    sell_match: Match | None,
    matches: dict[int, Match | None],
) -> _Outcome:
    """_least_cost() from the decks' matches."""
    sell_deck = plan.sell_deck
    sell = sell_facts = None
    if sell_deck is not None and sell_match is not None:
        sell, sell_facts = priced(sell_deck, sell_match)
    min_margin = tenant.min_margin_percent
    # A sell deck wins over a pricing policy (the models refuse both at once).
    policy = tenant if sell_deck is None and tenant.pricing else None
    context = _Context(callee, sell_deck, sell, sell_facts, min_margin,
                       *min_margin.as_integer_ratio(), policy)  # fmt: skip
    prices = {
        carrier_id: _price(table, carrier_id, match, context)
        for carrier_id, match in matches.items()
    }
    _in_base(table, prices.values())
    priced_targets: list[tuple[int | Fraction, int, TargetRow]] = []
    for target, carrier_id in plan.targets:
        price = prices[carrier_id]
        if not price.left_out:
            priced_targets.append((price.key[1], target.order, target))
    ordered = sorted(prices.values(), key=_cheapest)
    pricing = Pricing(
        mode=rule.mode,
        sell=sell,
        sell_currency=sell_deck.currency if sell_deck is not None else "",
        min_margin=min_margin,
        carriers=tuple(ordered),
        policy=describe_policy(tenant.pricing, tenant.markup, tenant.pricing_currency)
        if policy is not None
        else "",
        named_number=any(price.named_number for price in ordered),
    )
    pricing.routes = {
        price.carrier_id: (price, price.sell, price.sell_facts)
        if price.sell
        # A route whose carrier's deck is in another currency than the sell deck: no
        # customer rate in the answer (its one `currency` is the carrier's: the call
        # records would take the customer's rate for an amount in it).
        else (price, None, None)
        if price.cost_in_sell is not None
        else (price, sell, sell_facts)
        for price in ordered
    }
    pricing.skips = tuple(_price_skips(pricing))
    if sell_deck is not None and sell is None:
        pricing.named_number = True
        return pricing, None, (), f"no customer rate for {callee} in deck {sell_deck.name}"
    if not priced_targets and any(
        p.rate is not None and p.left_out and not p.no_fx for p in ordered
    ):
        return pricing, sell_facts, (), "no carrier leaves the margin (no profitable route)"
    priced_targets.sort(key=_rate_and_order)
    groups: list[tuple[TargetRow, ...]] = []
    if rule.mode == LCR_BAND:
        # Within the band: rate <= cheapest * (100 + band) / 100, cross-multiplied.
        num, den = (rule.band_percent or Decimal(0)).as_integer_ratio()
        rest = priced_targets
        while rest:
            ceiling = rest[0][0] * (100 * den + num)
            inside = sorted((i for i in rest if i[0] * 100 * den <= ceiling), key=_order)
            rest = [item for item in rest if item[0] * 100 * den > ceiling]
            groups.extend(_by_key(inside, _order))
    else:
        groups.extend(_by_key(priced_targets, _rate_and_order))
    return pricing, sell_facts, tuple(groups), ""


_rate_and_order = itemgetter(0, 1)
_cheapest = attrgetter("key")
_order = itemgetter(1)


class _Context(NamedTuple):
    """What pricing one call's carriers shares."""

    callee: str
    sell_deck: Deck | None
    sell: RateRow | None
    sell_facts: RateFacts | None
    min_margin: Decimal
    margin_num: int  # the tenant's minimum margin (percent) as num / den
    margin_den: int
    policy: TenantRow | None


def _by_key(items: list, key) -> list[tuple[TargetRow, ...]]:  # type: ignore[no-untyped-def,type-arg]
    """Consecutive items with the same key, as groups of their targets."""
    groups: list[tuple[TargetRow, ...]] = []
    current: list[TargetRow] = []
    last = object()
    for item in items:
        value = key(item)
        if current and value != last:
            groups.append(tuple(current))
            current = []
        current.append(item[2])
        last = value
    if current:
        groups.append(tuple(current))
    return groups


def _profitable(cost: int | Fraction, sell: int, context: _Context) -> bool:
    """rates.profitable() in millionths: sell - cost >= sell * min_margin / 100."""
    return (sell - cost) * 100 * context.margin_den >= sell * context.margin_num


def _in_base(table: Table, prices: Iterable[CarrierPrice]) -> None:
    """When the carriers still kept are in several currencies, order them by their cost in
    the base currency: each priced carrier's key converted (exact), and a kept carrier whose
    currency has no exchange rate left out. In one currency: nothing changes."""
    priced = [price for price in prices if price.facts is not None]
    if len({price.currency for price in priced if not price.left_out}) < 2:
        return
    fx, base = table.fx, table.base_currency
    for price in priced:
        cost = price.facts.micro  # type: ignore[union-attr]
        converted = convert(cost, price.currency, base, fx)
        if converted is None:
            price.key = (1, 0, price.name)
            if not price.left_out:
                price.left_out = f"no exchange rate for {price.currency} (base {base})"
                price.no_fx = True
            continue
        price.key = (0, converted, price.name)
        if price.currency != base:
            text = explain_fx(price.rate.rate, price.currency, base, fx, base)  # type: ignore[union-attr]
            price.conversions = (*price.conversions, text)


def _price(table: Table, carrier_id: int, match: Match | None, context: _Context) -> CarrierPrice:
    carrier = table.carriers.get(carrier_id)
    name = carrier.name if carrier is not None else f"#{carrier_id}"
    deck = table.carrier_decks.get(carrier_id)
    if deck is None:
        return CarrierPrice(carrier_id, name, left_out="no rate deck", key=(1, 0, name))
    if match is None:
        missing = f"no rate for {context.callee} in deck {deck.name}"
        return CarrierPrice(carrier_id, name, deck.currency, key=(1, 0, name), left_out=missing,
                            named_number=True)  # fmt: skip
    rate, facts = priced(deck, match)
    cost = facts.micro
    price = CarrierPrice(carrier_id, name, deck.currency, rate, facts=facts, key=(0, cost, name))
    policy = context.policy
    if policy is not None:  # the customer's rate: this carrier's cost plus the markup
        markup: Decimal | Fraction = policy.markup
        if policy.pricing == FIXED and deck.currency != policy.pricing_currency:
            # The markup in the deck's currency (exact; the customer's rate is rounded).
            converted = convert(markup, policy.pricing_currency, deck.currency, table.fx)
            if converted is None:
                price.left_out = (
                    f"deck {deck.name} is in {deck.currency}, the markup in "
                    f"{policy.pricing_currency}"
                )
                return price
            markup = converted
            price.conversions = (
                "markup " + explain_fx(policy.markup, policy.pricing_currency, deck.currency,
                                       table.fx, table.base_currency),
            )  # fmt: skip
        price.sell, price.sell_facts = customer_price(policy.pricing, markup, rate, facts)
        price.against = price.sell
        if not _profitable(cost, price.sell_facts.micro, context):
            price.left_out = _under_margin(price, context.min_margin)
        return price
    sell, sell_deck = context.sell, context.sell_deck
    if sell is None or sell_deck is None:  # no sell deck: no margin protection
        return price
    price.against = sell
    sold = context.sell_facts.micro  # type: ignore[union-attr]
    compared: int | Fraction = cost
    shown = str(rate.rate)
    if deck.currency != sell_deck.currency:
        # The cost in the customer's currency, through the base (exact).
        converted = convert(cost, deck.currency, sell_deck.currency, table.fx)
        if converted is None:
            lacking = lacking_fx(table.fx, deck.currency, sell_deck.currency)
            price.left_out = (
                f"deck {deck.name} is in {deck.currency}, the customer's in "
                f"{sell_deck.currency}, and no exchange rate for {lacking} "
                f"(base {table.base_currency})"
            )
            return price
        price.cost_in_sell = compared = converted
        price.conversions = (
            explain_fx(rate.rate, deck.currency, sell_deck.currency, table.fx,
                       table.base_currency),
        )  # fmt: skip
        shown = f"{rate.rate} {deck.currency} ({six(converted / MICRO)} {sell_deck.currency})"
    if compared > sold:
        price.left_out = f"rate {shown} above the customer's {sell.rate}"
    elif not _profitable(compared, sold, context):
        price.left_out = _under_margin(price, context.min_margin)
    return price


def _under_margin(price: CarrierPrice, min_margin: Decimal) -> str:
    shown = "-" if price.margin is None else f"{price.margin}%"
    return f"margin {shown} under the tenant's minimum {min_margin}%"


def _price_skips(pricing: Pricing) -> list[str]:
    return [f"carrier {p.name}: {p.left_out}" for p in pricing.carriers if p.left_out]


def order_gateways(
    table: Table,
    rule: RuleRow,
    rng: random.Random,
    callee: str | None = None,
    caller: str | None = None,
    groups: tuple[tuple[TargetRow, ...], ...] | None = None,
) -> tuple[list[GatewayRow], list[str]]:
    """The rule's gateways in failover order; and why others were left out (a carrier
    whose number lists refuse callee or caller among them). `groups`: the failover groups
    when not the targets' orders (a least-cost rule's, cheapest first).

    Carrier health (table.health, empty when every gateway is healthy): a gateway that is
    down is left out, or put last when its policy says so; a demoted one is left out with
    its skip probability. When that would leave no gateway at all, the call still gets the
    ones health left out, in order: health never refuses a call by itself.
    """
    chosen: list[GatewayRow] = []
    seen: set[int] = set()
    skipped: list[str] = []
    limit = table.defaults.max_routes
    health = table.health
    last: list[GatewayRow] = []
    held: list[GatewayRow] = []
    for group in groups if groups is not None else _order_groups(table, rule.targets):
        for target in _weighted_shuffle(group, rng) if len(group) > 1 else group:
            for gateway in _expand(table, target, rng, skipped, callee, caller):
                if gateway.id in seen:
                    skipped.append(f"gateway {_gateway_label(table, gateway)}: already listed")
                    continue
                if (
                    health
                    and gateway.id in health
                    and _health_hold(table, health[gateway.id], gateway, rng, last, held, skipped)
                ):
                    seen.add(gateway.id)
                    continue
                if len(chosen) >= limit:
                    skipped.append(f"gateway {_gateway_label(table, gateway)}: over {limit} routes")
                    continue
                seen.add(gateway.id)
                chosen.append(gateway)
    if last or held:
        if not chosen and not last:
            skipped.append("every gateway left out by health: tried anyway")
            last = held
        for gateway in last:
            if len(chosen) >= limit:
                skipped.append(f"gateway {_gateway_label(table, gateway)}: over {limit} routes")
                continue
            chosen.append(gateway)
    return chosen, skipped


def _health_hold(
    table: Table,
    row: HealthRow,
    gateway: GatewayRow,
    rng: random.Random,
    last: list[GatewayRow],
    held: list[GatewayRow],
    skipped: list[str],
) -> bool:
    """Carrier health's say on one gateway: appended to `last` (tried after the others) or
    to `held` (left out): True; or used in its place: False."""
    label = _gateway_label(table, gateway)
    if row.down_since is not None:
        since = row.down_since.strftime("%Y-%m-%d %H:%M:%S %Z").rstrip()
        why = f" ({row.reason})" if row.reason else ""
        if row.down_last:
            skipped.append(f"gateway {label}: down since {since}{why}, tried last")
            last.append(gateway)
        else:
            skipped.append(f"gateway {label}: down since {since}{why}")
            held.append(gateway)
        return True
    if row.skip_probability > 0.0 and rng.random() < row.skip_probability:
        skipped.append(
            f"gateway {label}: demoted, {row.failure_share:.0%} failures in "
            f"{row.window_attempts} attempts (skip probability {row.skip_probability:.0%})"
        )
        held.append(gateway)
        return True
    return False


# At most this many target lists' failover groups are remembered per table: a 1M-prefix
# table has hundreds of thousands of distinct lists, and remembering them all would grow a
# worker by tens of MB over a day of traffic. Calls go mostly to the same destinations.
GROUPS_CACHE_MAX = 8192


def _order_groups(
    table: Table, targets: tuple[TargetRow, ...]
) -> tuple[tuple[TargetRow, ...], ...]:
    cache = table.target_groups
    groups = cache.get(id(targets))
    if groups is None:
        by_order: dict[int, list[TargetRow]] = {}
        for target in sorted(targets, key=lambda t: t.order):
            by_order.setdefault(target.order, []).append(target)
        groups = tuple(tuple(group) for group in by_order.values())
        if len(cache) >= GROUPS_CACHE_MAX:
            cache.clear()
        cache[id(targets)] = groups
    return groups


def _weighted_shuffle(items: Sequence, rng: random.Random) -> list:  # type: ignore[type-arg]
    """A random order where an item's chance to come first is proportional to its weight.

    Efraimidis-Spirakis: sort by u ** (1 / weight), u uniform in (0, 1].
    """
    keyed = [
        ((1.0 - rng.random()) ** (1.0 / item.weight), index) for index, item in enumerate(items)
    ]
    keyed.sort(reverse=True)
    return [items[index] for _, index in keyed]


def _carrier_refuses(
    table: Table, carrier_id: int, callee: str | None, caller: str | None, label: str,
    skipped: list[str],
) -> bool:  # fmt: skip
    checks = table.lists_by_carrier.get(carrier_id)
    if not checks:
        return False
    listed = check_lists(checks, callee, caller)
    if listed is None:
        return False
    skipped.append(f"{label}: {listed.why}")
    return True


def _expand(
    table: Table,
    target: TargetRow,
    rng: random.Random,
    skipped: list[str],
    callee: str | None = None,
    caller: str | None = None,
) -> list[GatewayRow]:
    if target.gateway_id is not None:
        gateway = table.gateways.get(target.gateway_id)
        if gateway is None:
            skipped.append(f"gateway #{target.gateway_id}: unknown")
            return []
        carrier = table.carriers[gateway.carrier_id]
        if not carrier.enabled:
            skipped.append(f"gateway {_gateway_label(table, gateway)}: carrier disabled")
            return []
        if not gateway.enabled:
            skipped.append(f"gateway {_gateway_label(table, gateway)}: disabled")
            return []
        if table.lists_by_carrier and _carrier_refuses(
            table, carrier.id, callee, caller, f"gateway {_gateway_label(table, gateway)}", skipped
        ):
            return []
        return [gateway]
    # A target names a gateway or a carrier (the models' check constraint).
    by_carrier = table.carriers.get(target.carrier_id) if target.carrier_id is not None else None
    if by_carrier is None:
        skipped.append(f"carrier #{target.carrier_id}: unknown")
        return []
    if not by_carrier.enabled:
        skipped.append(f"carrier {by_carrier.name}: disabled")
        return []
    if table.lists_by_carrier and _carrier_refuses(
        table, by_carrier.id, callee, caller, f"carrier {by_carrier.name}", skipped
    ):
        return []
    gateways = [g for g in table.gateways_by_carrier.get(by_carrier.id, ()) if g.enabled]
    if not gateways:
        skipped.append(f"carrier {by_carrier.name}: no enabled gateway")
        return []
    return _weighted_shuffle(gateways, rng) if len(gateways) > 1 else gateways


def _gateway_label(table: Table, gateway: GatewayRow) -> str:
    return table.gateway_hops[gateway.id].label.removeprefix("gateway ")


def _gateway_route(
    query: Query,
    table: Table,
    rule: RuleRow,
    gateway: GatewayRow,
    callee: str,
    caller: str | None,
    lrn: str | None = None,
    upstream: str | None = None,
) -> Route:
    """`lrn`: the called number's routing number when it is ported (LNP); `upstream`: the
    npdi and rn parameters of an incoming Request-URI, for the user part of every route's."""
    carrier = table.carriers[gateway.carrier_id]
    hop = table.gateway_hops[gateway.id]
    number = _user(
        strip_and_prefix(from_e164(callee, carrier.outbound, CALLEE), gateway.strip, gateway.prefix)
    )
    # Bracketed once for the From URI and P-Asserted-Identity alike (an IPv6 from_domain).
    from_host = uri_host(carrier.from_domain or query.caller.host)
    if caller is not None:
        caller_user = _user(from_e164(caller, carrier.outbound, CALLER))
    else:
        caller_user = query.caller.user
    extra = header_text(rule.extra_headers) if rule.extra_headers else ""
    extra += table.carrier_headers[carrier.id]
    if carrier.send_pai and caller is not None:
        extra += f"P-Asserted-Identity: <sip:+{caller}@{from_host}>\r\n"
    if upstream is not None:
        # The lookup was done upstream: its npdi (and rn) go on as they came (RFC 4694
        # says not to drop them), whatever the carrier's setting, and only once.
        uri = f"sip:{number}{upstream}{hop.uri_tail};user=phone"
    elif lrn is not None and carrier.send_rn:
        # RFC 4694: tel parameters in the user part, in lexical order (RFC 3966), the LRN
        # global ("+"); user=phone says the user part is a telephone-subscriber.
        uri = f"sip:{number};npdi;rn=+{lrn}{hop.uri_tail};user=phone"
    else:
        uri = f"sip:{number}{hop.uri_tail}"
    return Route(
        target=hop.label,
        uri=uri,
        dst_uri=hop.dst_uri,
        socket=hop.socket,
        from_display=rule.from_display or query.caller.display,
        from_uri=f"sip:{caller_user}@{from_host}",
        to_display=query.callee.display,
        to_uri=f"sip:{number}@{hop.host}",
        extra_headers=extra,
        fr_timer=hop.fr_timer,
        fr_inv_timer=hop.fr_inv_timer,
        to_user=number,
        from_user=caller_user,
        carrier_id=carrier.id,
        gateway_id=gateway.id,
        limits=table.gateway_limits.get(gateway.id, ""),
    )


def _joined(first: str, second: str) -> str:
    """Two limit specs as one (most calls have neither)."""
    if first and second:
        return f"{first} {second}"
    return first or second


def _user(number: str) -> str:
    # '#' (tech prefixes) is not allowed unescaped in a URI user part (RFC 3261 25.1).
    return number.replace("#", "%23") if "#" in number else number


__all__ = [
    "CarrierPrice",
    "Decision",
    "Party",
    "Pricing",
    "Route",
    "decide",
    "find_rule",
    "order_gateways",
]
