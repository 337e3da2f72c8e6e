"""A Decision as the rtjson document Kamailio reads (see shared/KAMAILIO.md).

Besides what rtjson reads, the document carries c4router's own ids under keys rtjson
ignores, for the call records Kamailio writes (kamailio_cfg/kamailio.cfg, "call records"):
`rtjson.c4` says what the call is (direction, tenant, PBX, the carrier it came from, the
rule, its numbers in E.164), each route's `c4` what the attempt is (its number, rule,
carrier, gateway or PBX, and the numbers it sends). Cost: 2-5 us of CPU per answer of 3
routes (two small dicts per route, ~140 more bytes each), measured on a loaded machine.
A least-cost rule's routes also carry, in `c4`, what pricing the call needs: the carrier's
rate per minute (`rate`, `currency`) with its connect fee and billing increments (`fee`,
`inc` "initial/next" seconds), the customer's (`sell`, `sfee`, `sinc`; `sell` null: no
customer rate), decimal strings; a fee of 0 and increments of 1/1 are left out.
"""

from __future__ import annotations

import re

import orjson

from routing.engine.decide import INBOUND, OUTBOUND, Decision, Route
from routing.engine.rates import RateFacts, rate_facts

_DIRECTION = {INBOUND: "in", OUTBOUND: "out"}

_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")

# What rtjson gives uac for "no display". uac skips an empty display (the caller's own
# display would then reach the carrier untouched, whatever it is); any other value
# replaces the header's display, and a lone space puts nothing but whitespace before the
# "<": `From:   <sip:...>`, an RFC 3261 name-addr without a display name (SWS before LAQUOT).
NO_DISPLAY = " "


def quote_display(text: str) -> str:
    """A display name as Kamailio must write it into From/To: an RFC 3261 quoted-string.

    rtjson/uac insert the display into the header as given (KAMAILIO.md): unquoted,
    `Smith, John` or `Bob <sip:x@y>` make a From that Kamailio itself then fails to parse.
    Every display of an answer (the caller's, the callee's, an admin's) goes through here:
    `"` and `\\` become quoted-pairs, control characters (which no quoted-string may hold,
    and which would end the header) are dropped, UTF-8 stays as is (qdtext allows it).
    """
    if not text:
        return NO_DISPLAY
    if not text.isprintable():
        text = _CONTROL_RE.sub("", text)
        if not text:
            return NO_DISPLAY
    if '"' in text or "\\" in text:
        text = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def route_document(
    route: Route,
    attempt: int = 1,
    rule_id: int | None = None,
    from_display: str | None = None,
    to_display: str | None = None,
) -> dict[str, object]:
    """One route (the `attempt`-th of its answer); from_display/to_display: its displays
    already quoted, when known."""
    if from_display is None:
        from_display = quote_display(route.from_display)
    if to_display is None:
        to_display = quote_display(route.to_display)
    price = route.rate
    c4: dict[str, object]
    if price is None:
        c4 = {
            "attempt": attempt,
            "rule": rule_id,
            "carrier": route.carrier_id,
            "gateway": route.gateway_id,
            "pbx": route.pbx_id,
            "to": route.to_user,
            "from": route.from_user,
        }
    else:
        # Least-cost routing: what the attempt costs and what the customer pays, for the
        # records (routing/cdr/pricing.py prices the answered call from them): the ids'
        # keys then the money's, made once per carrier of a remembered outcome
        # (routing.engine.decide._least_cost) and copied (a dict of the right size: no
        # growth as keys are added), the ids set in place.
        template = price.answer_keys
        if template is None or price.answer_sell is not route.sell:
            template = price.answer_keys = _money_template(route)
            price.answer_sell = route.sell
        c4 = template.copy()
        c4["attempt"] = attempt
        c4["rule"] = rule_id
        c4["carrier"] = route.carrier_id
        c4["gateway"] = route.gateway_id
        c4["pbx"] = route.pbx_id
        c4["to"] = route.to_user
        c4["from"] = route.from_user
    document = {
        "uri": route.uri,
        "dst_uri": route.dst_uri,
        "path": "",
        "socket": route.socket,
        "headers": {
            # rtjson 5.6 carries display/uri over from "from" to "to" when a key is missing:
            # both keys, always, in both objects.
            "from": {"display": from_display, "uri": route.from_uri},
            "to": {"display": to_display, "uri": route.to_uri},
            "extra": route.extra_headers,
        },
        "branch_flags": 0,
        "fr_timer": route.fr_timer,
        "fr_inv_timer": route.fr_inv_timer,
        "c4": c4,
    }
    if route.limits:
        # Capacity: the limits this attempt counts against (kamailio.cfg, "capacity").
        document["limits"] = route.limits
    return document


_ID_KEYS = ("attempt", "rule", "carrier", "gateway", "pbx", "to", "from")


def _money_template(route: Route) -> dict[str, object]:
    """A least-cost route's `c4`: the ids' keys (set per route), then the carrier's rate,
    currency and billing terms, the customer's rate and terms (`sell` null: none). The
    texts are the rates' RateFacts, made once per deck palette entry."""
    c4: dict[str, object] = dict.fromkeys(_ID_KEYS)
    buy = route.rate.rate  # type: ignore[union-attr]
    facts = route.rate.facts or (rate_facts(buy) if buy is not None else None)  # type: ignore[union-attr]
    c4["rate"] = facts.text if facts is not None else None
    c4["currency"] = route.rate.currency  # type: ignore[union-attr]
    if facts is not None:
        _billing_terms(c4, "", facts)
    sell = route.sell
    if sell is not None:
        facts = route.sell_facts or rate_facts(sell)
        c4["sell"] = facts.text
        _billing_terms(c4, "s", facts)
    else:
        c4["sell"] = None
    return c4


def _billing_terms(c4: dict[str, object], side: str, facts: RateFacts) -> None:
    """A rate's connect fee (`fee`/`sfee`, a decimal string) and billing increments
    (`inc`/`sinc`, "initial/next" seconds), each left out at its default (no fee, 1/1):
    a deck billed per second adds no byte to the answer."""
    if facts.fee_text:
        c4[side + "fee"] = facts.fee_text
    if facts.inc_text:
        c4[side + "inc"] = facts.inc_text


def call_ids(decision: Decision) -> dict[str, object]:
    """What c4router knows of the call, for its records (ids are null when unknown)."""
    source = decision.source
    tenant_id = pbx_id = carrier_id = None
    if source is not None:
        if source.pbx is not None:
            tenant_id, pbx_id = source.pbx.tenant_id, source.pbx.id
        elif source.carrier is not None:
            carrier_id = source.carrier.id
            found = decision.did or decision.domain
            if found is not None:
                tenant_id, pbx_id = found.tenant_id, found.pbx_id
    rule = decision.rule
    ids: dict[str, object] = {
        "dir": _DIRECTION.get(decision.direction),
        "tenant": tenant_id,
        "pbx": pbx_id,
        "carrier": carrier_id,
        "rule": rule.id if rule is not None else None,
        "callee": decision.callee,
        "caller": decision.caller,
    }
    if decision.ported is not None:
        # LNP: the routing number the call was routed on ("callee" stays the dialled one).
        ids["lrn"] = decision.ported.lrn
    return ids


def answer_document(decision: Decision) -> dict[str, object]:
    if decision.routed:
        document = _routed_document(decision)
        if decision.limits:
            # Capacity: the limits the call counts against as it comes in.
            document["rtjson"]["limits"] = decision.limits  # type: ignore[index]
        return document
    return {
        "rtjson": {
            "success": False,
            "code": decision.code,
            "reason": decision.reason,
            "c4": call_ids(decision),
        }
    }


def _routed_document(decision: Decision) -> dict[str, object]:
    # The routes of one decision share their display strings (the rule's or the
    # caller's, the callee's): quote them once per answer, not once per route.
    first = decision.routes[0]
    from_raw, to_raw = first.from_display, first.to_display
    from_quoted, to_quoted = quote_display(from_raw), quote_display(to_raw)
    rule_id = decision.rule.id if decision.rule is not None else None
    return {
        "rtjson": {
            "success": True,
            "version": "1.0",
            "routing": "serial",
            "routes": [
                route_document(
                    route,
                    attempt,
                    rule_id,
                    from_quoted if route.from_display is from_raw else None,
                    to_quoted if route.to_display is to_raw else None,
                )
                for attempt, route in enumerate(decision.routes, 1)
            ],
            "c4": call_ids(decision),
        }
    }


def answer_bytes(decision: Decision) -> bytes:
    return orjson.dumps(answer_document(decision))
