"""A day of synthetic call records for the demo data (`manage.py seed_demo --traffic`).

Clearly labelled: every Call-ID is `demo-...@traffic.demo.invalid`. The calls follow the
demo's route rules and carriers (each carrier with its own answer rate, failover rate, PDD
and call lengths), more by day than by night, from the demo's PBXs. They go through the
same store as real records (store.py: the rollups too); an answered call through a carrier
with a rate deck is priced (and earns the tenant's rate when it has a deck in the same
currency), as if a least-cost rule had routed it. They are deterministic in absolute
time: the calls of a 5-minute bucket are always the same, so running the command again
(later, or twice) adds only the buckets that are new, never doubles one.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from routing.cdr.pricing import Terms, charge
from routing.cdr.records import UNPRICED
from routing.cdr.rollups import bucket_of
from routing.cdr.store import store_rows
from routing.models import Pbx, RateDeck, RouteRule
from routing.models.cdr import BUCKET_SECONDS

LABEL = "demo-"
DOMAIN = "@traffic.demo.invalid"


@dataclass(frozen=True)
class Profile:
    """How a carrier behaves in the demo."""

    answer: float  # share of attempts answered
    unavailable: float  # share failing with 503 (failover)
    pdd_ms: float  # median post-dial delay
    acd_s: float  # mean call length


PROFILES = (
    Profile(0.62, 0.05, 1800, 190),
    Profile(0.55, 0.12, 2600, 150),
    Profile(0.48, 0.20, 3400, 120),
)
BUSY_CODES = ((486, "Busy Here"), (480, "Temporarily Unavailable"), (487, "Request Terminated"),
              (404, "Not Found"), (603, "Decline"))  # fmt: skip


@dataclass(frozen=True)
class _Route:
    rule_id: int
    tenant_id: int | None
    prefix: str
    gateways: tuple[tuple[int, int], ...]  # (carrier id, gateway id) in failover order


def _routes() -> list[_Route]:
    routes = []
    rules = RouteRule.objects.filter(enabled=True).prefetch_related(
        "targets__gateway", "targets__carrier__gateways"
    )
    for rule in rules.order_by("id"):
        gateways: list[tuple[int, int]] = []
        for target in rule.targets.order_by("order", "id"):
            if target.gateway_id is not None:
                gateways.append((target.gateway.carrier_id, target.gateway_id))
            elif target.carrier_id is not None:
                first = target.carrier.gateways.filter(enabled=True).order_by("id").first()
                if first is not None:
                    gateways.append((target.carrier_id, first.pk))
        if gateways:
            routes.append(_Route(rule.pk, rule.tenant_id, rule.prefix, tuple(gateways)))
    return routes


# A deck as the demo prices with it: its currency and its rates in effect by prefix.
_Deck = tuple[str, dict[str, Terms]]


@dataclass(frozen=True)
class _Prices:
    buy: dict[int, _Deck]  # per carrier
    sell: dict[int, _Deck]  # per tenant


def _prices(now: datetime) -> _Prices:
    """The rate decks' rates in effect now (the demo's calls are priced as if a least-cost
    rule had routed them: a call through a carrier with a deck gets its cost, and its
    revenue when the tenant has a deck in the same currency)."""
    prices = _Prices({}, {})
    for deck in RateDeck.objects.prefetch_related("rates").order_by("id"):
        rates = {}
        for rate in sorted(deck.rates.all(), key=lambda r: r.effective_from):
            if rate.effective_from <= now and (
                rate.effective_until is None or now < rate.effective_until
            ):
                rates[rate.prefix] = Terms(
                    rate.rate, rate.connect_fee, rate.initial_increment, rate.next_increment
                )
        if deck.carrier_id is not None:
            prices.buy[deck.carrier_id] = (deck.currency, rates)
        elif deck.tenant_id is not None:
            prices.sell[deck.tenant_id] = (deck.currency, rates)
    return prices


def _terms(deck: _Deck | None, number: str) -> tuple[str, Terms] | None:
    if deck is None:
        return None
    currency, rates = deck
    for length in range(len(number), -1, -1):
        found = rates.get(number[:length])
        if found is not None:
            return currency, found
    return None


def _price(row: dict[str, Any], prices: _Prices, tenant_id: int | None) -> None:
    carrier_id, duration = row["carrier_id"], row["duration_ms"]
    buy = _terms(prices.buy.get(carrier_id), row["callee"])
    if buy is None or duration is None:
        return
    currency, terms = buy
    row["billed_seconds"], row["cost"] = charge(terms, duration)
    row["currency"], row["rate"] = currency, terms.rate
    sell = _terms(prices.sell.get(tenant_id or 0), row["callee"])
    if sell is not None and sell[0] == currency:
        _billed, revenue = charge(sell[1], duration)
        row["sell_rate"], row["revenue"], row["margin"] = (
            sell[1].rate,
            revenue,
            revenue - row["cost"],
        )


def calls_per_bucket(moment: datetime, per_hour: int) -> float:
    """More calls by day than by night (UTC): a smooth daily curve, peak at 14:00."""
    hour = moment.hour + moment.minute / 60
    shape = 0.25 + 0.75 * (1 + math.cos((hour - 14) / 24 * 2 * math.pi)) / 2
    return per_hour * BUCKET_SECONDS / 3600 * shape


def generate(now: datetime | None = None, *, hours: int = 24, per_hour: int = 600) -> list[dict]:
    """The record rows of the demo calls started in the last `hours` (whole buckets)."""
    now = now or datetime.now(UTC)
    routes = _routes()
    pbxs = list(Pbx.objects.filter(enabled=True).order_by("id").values_list("id", "tenant_id"))
    if not routes or not pbxs:
        return []
    prices = _prices(now)
    carriers = sorted({carrier for route in routes for carrier, _ in route.gateways})
    profiles = {carrier: PROFILES[index % len(PROFILES)] for index, carrier in enumerate(carriers)}
    rows: list[dict[str, Any]] = []
    end = bucket_of(now)
    bucket = end - timedelta(hours=hours)
    while bucket < end:
        seed = int(bucket.timestamp())
        rng = random.Random(seed)
        expected = calls_per_bucket(bucket, per_hour)
        count = int(expected) + (1 if rng.random() < expected % 1 else 0)
        for index in range(count):
            start = bucket + timedelta(seconds=rng.uniform(0, BUCKET_SECONDS))
            pbx_id, tenant_id = rng.choice(pbxs)
            route = rng.choice(routes)
            rows.extend(_call(rng, f"{LABEL}{seed}-{index}{DOMAIN}", start, pbx_id,
                              tenant_id, route, profiles, prices))  # fmt: skip
        bucket += timedelta(seconds=BUCKET_SECONDS)
    return rows


def _call(rng: random.Random, call_id: str, start: datetime, pbx_id: int, tenant_id: int,
          route: _Route, profiles: dict[int, Profile],
          prices: _Prices) -> list[dict[str, Any]]:  # fmt: skip
    callee = route.prefix + "".join(rng.choice("0123456789") for _ in range(11 - len(route.prefix)))
    caller = "33" + "".join(rng.choice("0123456789") for _ in range(9))
    common = {
        "call_id": call_id, "start_time": start, "direction": "out", "tenant_id": tenant_id,
        "pbx_id": pbx_id, "source_carrier_id": None, "rule_id": route.rule_id,
        "source_ip": "192.0.2.10", "caller_in": caller, "callee_in": callee, "caller": caller,
        "callee": callee, "caller_out": caller, "callee_out": callee, "q850_cause": None,
        **UNPRICED,
    }  # fmt: skip
    rows: list[dict[str, Any]] = []
    elapsed = 0.0
    code, reason, answered_at, pdd_call = 503, "Service Unavailable", None, None
    carrier_id = gateway_id = None
    for attempt, (carrier_id, gateway_id) in enumerate(route.gateways, 1):
        profile = profiles[carrier_id]
        pdd = rng.lognormvariate(math.log(profile.pdd_ms), 0.4)
        draw = rng.random()
        if draw < profile.unavailable:
            code, reason, pdd_ms = 503, "Service Unavailable", None
            took = rng.uniform(20, 200)
        elif draw < profile.unavailable + profile.answer:
            code, reason, pdd_ms = 200, "OK", round(pdd)
            took = pdd + rng.uniform(2000, 15000)
        else:
            code, reason = rng.choice(BUSY_CODES)
            pdd_ms = round(pdd) if code != 404 else None
            took = pdd + rng.uniform(500, 20000)
        if pdd_ms is not None and pdd_call is None:
            pdd_call = round(elapsed + pdd_ms)
        rows.append({
            **common, "kind": "attempt", "attempt": attempt, "attempts": 0,
            "end_time": start + timedelta(milliseconds=elapsed + took),
            "carrier_id": carrier_id, "gateway_id": gateway_id, "sip_code": code,
            "sip_reason": reason, "q850_cause": 34 if code == 503 else None, "pdd_ms": pdd_ms,
            "answer_ms": round(took) if code == 200 else None, "duration_ms": None,
            "hangup": "",
        })  # fmt: skip
        elapsed += took
        if code == 200:
            answered_at = elapsed
            break
        if code != 503:
            break
    duration = None
    if answered_at is not None:
        duration = round(rng.expovariate(1 / profiles[carrier_id].acd_s) * 1000)  # type: ignore[index]
    rows.append({
        **common, "kind": "call", "attempt": 0, "attempts": len(rows),
        "end_time": start + timedelta(milliseconds=elapsed + duration) if duration else None,
        "carrier_id": carrier_id, "gateway_id": gateway_id, "sip_code": code,
        "sip_reason": reason, "pdd_ms": pdd_call,
        "answer_ms": round(answered_at) if answered_at is not None else None,
        "duration_ms": duration,
        "hangup": rng.choice(("caller", "callee")) if duration is not None else "",
    })  # fmt: skip
    _price(rows[-1], prices, tenant_id)
    return rows


def seed_traffic(now: datetime | None = None, *, hours: int = 24, per_hour: int = 600) -> int:
    """Store the demo calls of the last `hours`; returns how many records were new."""
    rows = generate(now, hours=hours, per_hour=per_hour)
    stored = 0
    for start in range(0, len(rows), 5000):
        stored += store_rows(rows[start : start + 5000])
    return stored
