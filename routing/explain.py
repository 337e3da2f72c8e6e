"""Why a call is routed the way it is: for `manage.py route` and the admin route tester."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

from routing.engine.decide import OUTBOUND, Decision, Pricing, decide
from routing.engine.lists import PREFIX, RANGE, Listed
from routing.engine.query import QueryError, parse_query
from routing.engine.rtjson import answer_document
from routing.engine.table import Table, Window
from routing.loader import build_from_database
from routing.models import NumberListEntry
from routing.models.rates import plain


@dataclass(frozen=True)
class Explanation:
    decision: Decision
    answer: dict[str, object]
    lines: list[str]

    @property
    def answer_json(self) -> str:
        return orjson.dumps(self.answer, option=orjson.OPT_INDENT_2).decode()


# The times a made-up call may be routed at. Routing converts the time to each rule's time
# zone and looks at the day before: near datetime's own limits (years 1 and 9999) that
# overflows. Far from both, and wide enough for any "what if" about real traffic.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(3000, 1, 1, tzinfo=UTC)


def check_time(at: datetime) -> None:
    """Raise QueryError("at: ...") unless `at` is a time calls may be routed at."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise QueryError("at: give a time zone (e.g. +00:00)")
    try:
        inside = EARLIEST <= at < LATEST
    except OverflowError:  # a time near year 1 or 9999 whose offset takes it out of range
        inside = False
    if not inside:
        raise QueryError(f"at: give a time between {EARLIEST.year} and {LATEST.year - 1}")


def explain_call(
    source_ip: str,
    from_uri: str,
    to_uri: str,
    *,
    from_name: str = "",
    to_name: str = "",
    request_uri: str = "",
    at: datetime | None = None,
    table: Table | None = None,
    seed: int | None = None,
) -> Explanation:
    """Route a made-up call against the current data; raises QueryError on bad input."""
    body = orjson.dumps(
        {
            "event": "sip-routing",
            "source_ip": source_ip,
            "source_port": 5060,
            "call_id": "route-tester",
            "from_name": from_name,
            "from_uri": from_uri or "<null>",
            "to_name": to_name,
            "to_uri": to_uri,
            "request_uri": request_uri or "<null>",
        }
    )
    query = parse_query(body)
    if at is not None:
        check_time(at)
    table = table or build_from_database()
    now = at or datetime.now(UTC)
    decision = decide(query, table, now, random.Random(seed))
    return Explanation(decision, answer_document(decision), describe(decision, table, now))


def describe(decision: Decision, table: Table, now: datetime) -> list[str]:
    lines = [f"Routing data version {table.version}, time {now.isoformat(timespec='seconds')}"]
    source = decision.source
    if source is None:
        lines.append("Source: no trusted network matches")
    elif source.carrier is not None:
        lines.append(f"Source: {source.cidr} = carrier {source.carrier.name} (inbound call)")
    elif source.pbx is not None:
        tenant = table.tenants.get(source.pbx.tenant_id)
        lines.append(
            f"Source: {source.cidr} = PBX {source.pbx.name} of tenant "
            f"{tenant.name if tenant else '?'} (outbound call)"
        )
    if decision.direction:
        lines.append(
            f"Numbers (E.164): called {decision.callee or 'not a number'}, "
            f"calling {decision.caller or 'not a number'}"
        )
    if decision.listed is not None:
        lines.append(f"Number list: {describe_listed(decision.listed)}")
    if decision.ported is not None:
        ported = decision.ported
        tenant = table.tenants.get(ported.rule.tenant_id) if ported.rule.tenant_id else None
        scope = f"tenant {tenant.name}" if tenant is not None else "global"
        source = ", rn from the Request-URI: not looked up" if ported.upstream else ""
        lines.append(
            f"Ported: {ported.number} -> LRN {ported.lrn} (LNP rule #{ported.rule.id}, "
            f"{scope}, prefix {ported.rule.prefix or '(any)'}{source})"
        )
    elif decision.npdi:
        lines.append("Portability: npdi in the Request-URI (looked up upstream): not looked up")
    lines.extend(f"Skipped: {reason}" for reason in closed_windows(decision, table, now))
    if decision.rule is not None:
        lines.append(f"Rule: {decision.rule.label}")
        if decision.rule.reject_code:
            rule = decision.rule
            lines.append(f"Action: reject with {rule.reject_code} {rule.reject_reason}")
    if decision.pricing is not None:
        lines.extend(describe_pricing(decision.pricing, decision.callee or ""))
    lines.append(f"Decision: {decision.why}")
    if decision.limits:
        lines.append(f"Limits of the call: {describe_limits(decision.limits, table)}")
    for index, route in enumerate(decision.routes, start=1):
        lines.append(f"Route {index}: {route.target}: {route.uri} via {route.dst_uri}")
        if route.rate is not None and route.rate.rate is not None:
            lines.append(
                f"  rate: {plain(route.rate.rate.rate)} {route.rate.currency}/min"
                + (f", customer {plain(route.sell.rate)}" if route.sell is not None else "")
            )
        if route.limits:
            lines.append(f"  limits: {describe_limits(route.limits, table)}")
    lines.extend(f"Skipped: {reason}" for reason in decision.skipped)
    lines.append(f"Answer: {decision.code} {decision.reason}")
    return lines


_MODES = {"lcr": "least cost", "lcr_band": "least cost, banded"}


def describe_pricing(pricing: Pricing, callee: str) -> list[str]:
    """A least-cost rule's rates: the customer's, then each carrier's (cheapest first) with
    its matched prefix, its conversions into another currency (the converted amount rounded
    half up to six places, and the exchange rates used), its margin, and why it was left
    out."""
    lines = [f"Mode: {_MODES.get(pricing.mode, pricing.mode)}"]
    sell = pricing.sell
    if pricing.policy:
        lines.append(
            f"Customer rate: {pricing.policy} (pricing policy), minimum margin "
            f"{plain(pricing.min_margin)}%"
        )
    elif sell is not None:
        lines.append(
            f"Customer rate: {plain(sell.rate)} {pricing.sell_currency}/min "
            f"(prefix {sell.prefix or '*'}), minimum margin {plain(pricing.min_margin)}%"
        )
    elif pricing.sell_currency:
        lines.append(f"Customer rate: none for {callee}")
    else:
        lines.append("Customer rate: the tenant has no sell deck (no margin protection)")
    for price in pricing.carriers:
        if price.rate is None:
            lines.append(f"Carrier {price.name}: no rate ({price.left_out})")
            continue
        text = (
            f"Carrier {price.name}: {plain(price.rate.rate)} {price.currency}/min "
            f"(prefix {price.rate.prefix or '*'})"
        )
        for conversion in price.conversions:  # "0.01 EUR = 0.010800 USD at 1 EUR = 1.08 USD"
            text += f", {conversion}"
        if price.sell is not None:
            text += f", customer {plain(price.sell.rate)}"
        if price.margin is not None:
            text += f", margin {plain(price.margin)}%"
        text += f", left out: {price.left_out}" if price.left_out else ", kept"
        lines.append(text)
    return lines


def describe_listed(listed: Listed) -> str:
    """The list that refused a call, and its entry with the entry's id and comment (read
    from the database: the table keeps the entries as bare integers)."""
    row = listed.row
    text = f"{row.label} #{row.id}"
    if listed.entry is None:
        side = "called" if row.side == "called" else "calling"
        return f"{text}: the {side} number {listed.number or '(not a number)'} is on no entry"
    match, shown = listed.entry
    number, range_end = shown, ""
    if match == PREFIX:
        number = shown.removesuffix("*")
    elif match == RANGE:
        number, range_end = shown.split("-")
    found = (
        NumberListEntry.objects.filter(
            number_list_id=row.id, match=match, number=number, range_end=range_end
        )
        .values_list("id", "comment")
        .first()
    )
    text += f": entry {shown} ({match})"
    if found is not None:
        entry_id, comment = found
        text += f", entry #{entry_id}" + (f" {comment!r}" if comment else "")
    return text


_KINDS = {"tenant": "tenant", "pbx": "PBX", "carrier": "carrier", "gateway": "gateway",
          "ip_source": "IP source"}  # fmt: skip


def _limit_owner(key: str, table: Table) -> str:
    kind, name = table.limit_owners.get(key, ("", key))
    return f"{_KINDS.get(kind, 'limit')} {name}"


def describe_limits(spec: str, table: Table) -> str:
    """A limit spec (an answer's "limits") for people: "tenant Acme Corp at most 20 calls, 10/s"."""
    parts = []
    for item in spec.split():
        key, calls, cps = item.split(":")
        bounds = []
        if calls != "-":
            bounds.append(f"at most {calls} calls")
        if cps != "-":
            bounds.append(f"{cps} calls/s")
        parts.append(f"{_limit_owner(key, table)} {', '.join(bounds)}")
    return "; ".join(parts)


def window_text(window: Window) -> str:
    days = f"days {''.join(str(d) for d in sorted(window.weekdays))}" if window.weekdays else ""
    hours = ""
    if window.start is not None and window.end is not None:
        hours = f"{window.start:%H:%M}-{window.end:%H:%M}"
    return " ".join(part for part in (days, hours, str(window.tz)) if part)


def closed_windows(decision: Decision, table: Table, now: datetime) -> list[str]:
    """The rules that match the call but were passed over because their time window is
    closed at `now`: those with a destination prefix at least as long as the chosen rule's
    (the others would have lost anyway), each with its window and the local time."""
    source = decision.source
    if decision.direction != OUTBOUND or source is None or source.pbx is None:
        return []
    callee, caller = decision.callee or "", decision.caller or ""
    if not callee:
        return []
    shortest = len(decision.rule.prefix) if decision.rule is not None else 0
    reasons = []
    for length in table.rule_prefix_lengths:  # the lengths some rule's prefix has
        if not shortest <= length <= len(callee):
            continue
        for scope in (source.pbx.tenant_id, None):
            for rule in table.rules_at(scope, callee[:length]):
                window = rule.window
                if (
                    window is None
                    or window.is_open(now)
                    or not caller.startswith(rule.caller_prefix)
                ):
                    continue
                local = now.astimezone(window.tz)
                reasons.append(
                    f"{rule.label}: its time window ({window_text(window)}) is closed at "
                    f"{local:%A %H:%M} local time"
                )
    return reasons
