"""Re-price stored call records after a rate correction (manage.py reprice_calls).

An operator corrects a carrier's rate in place (the Rate's history keeps the old value) and
prices the answered least-cost calls of a time range again with the decks as they are now:

- which records: kind CALL with a carrier rate, a currency and a cost (the ones the
  ingester priced: routing.cdr.records._price), of the selected carriers and tenants;
- the number priced: the record's LRN when it keeps one (a ported number: routing priced
  the routing number, routing.engine.decide), else its called number (`callee`);
- the buy side: the deck of the record's carrier, its rate for that number at the call's
  start, the engine's rule (routing.engine.rates._climb): the longest prefix with a rate in
  effect then (effective_from <= start < effective_until, no end: open-ended), among a
  prefix's rates in effect the latest started;
- the sell side, when the record has a customer rate: the tenant's sell deck's rate at that
  moment, or under a pricing policy the customer's rate recomputed from the corrected cost
  (routing.engine.pricing.customer_rate); a fixed markup in another currency than the deck
  (its conversion used the exchange rate of that day, which is not kept) or a tenant with
  neither any more: the revenue is kept as it is (counted), the margin follows the cost;
- billed seconds, cost, revenue and margin by routing.cdr.pricing.charge, as at ingest.

A deck with no rate for the number at that moment, no deck, or a deck in another currency
than the record's: the record is left as it is, counted (the first ones named).

Applying is all or nothing, in one transaction: the records updated, then the money rollups
(5-minute and hourly) adjusted by the difference of each changed record, on the keys the
ingester used (rollups.key_of, rollups._add_money, rollups.apply: INSERT ... ON CONFLICT
DO UPDATE SET x = x + excluded.x), so an ingester adding new calls meanwhile loses nothing.
The differences are summed per bucket and applied once at the end (the rollup rows stay
locked from then until COMMIT only, in the ingester's order: sorted keys).

Scale: the records are read day partition by day partition, and within a day in batches
of BATCH by (start_time, id), every query bounded by start_time (partition pruning); the
rates a batch needs are read in one query (the batch's decks and numbers' prefixes).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection, transaction

from routing.admin_log import CHANGE, log_action
from routing.cdr import rollups
from routing.cdr.pricing import Terms, charge
from routing.engine.lists import KEY_DIGITS
from routing.engine.pricing import PERCENT, customer_rate
from routing.engine.rates import DeckRow, RateRow, build_deck, find_rate
from routing.models import CallRecord, RateDeck, Tenant

logger = logging.getLogger("c4router.cdr")

BATCH = 5_000
SAMPLE_SIZE = 10
# pg_advisory_xact_lock key: one re-pricing at a time (each reads the records' amounts and
# adds differences: two at once on the same records would add them twice).
_LOCK = 0x0C4_4E_9C  # "c4 re-price"
_DAY = timedelta(days=1)

_READ = (
    "id", "start_time", "call_id", "direction", "tenant_id", "source_carrier_id", "carrier_id",
    "gateway_id", "rule_id", "callee", "lrn", "currency", "rate", "sell_rate", "duration_ms",
    "billed_seconds", "cost", "revenue", "margin",
)  # fmt: skip
_WRITTEN = ("rate", "sell_rate", "billed_seconds", "cost", "revenue", "margin")
_TYPES = {"id": "bigint", "start_time": "timestamptz", "rate": "numeric",
          "sell_rate": "numeric", "billed_seconds": "integer", "cost": "numeric",
          "revenue": "numeric", "margin": "numeric"}  # fmt: skip


@dataclass
class Changed:
    """A sample of a changed record: call id, number, rate and cost before and after."""

    call_id: str
    number: str
    currency: str
    old_rate: Decimal
    new_rate: Decimal
    old_cost: Decimal
    new_cost: Decimal


@dataclass
class RepriceResult:
    since: datetime
    until: datetime
    preview: bool
    read: int = 0
    changed: int = 0
    unchanged: int = 0
    no_rate: int = 0
    other_currency: int = 0
    revenue_kept: int = 0  # changed or not: a customer rate not recomputed (see the doc)
    # per currency: [cost, revenue, margin] before and after, over the records read
    before: dict[str, list[Decimal]] = field(default_factory=dict)
    after: dict[str, list[Decimal]] = field(default_factory=dict)
    samples: list[Changed] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # "no rate for ... in deck ... at ..."
    other: list[str] = field(default_factory=list)  # "deck X is in USD, the record in EUR"

    @property
    def summary(self) -> str:
        return (
            f"{self.read} records read, {self.changed} changed, {self.unchanged} unchanged, "
            f"{self.no_rate} without a rate, {self.other_currency} in another currency"
        )


class RepriceError(ValueError):
    """Arguments that cannot be run: the message says why."""


def check_range(since: datetime, until: datetime, now: datetime, retention_days: int) -> None:
    if until <= since:
        raise RepriceError(
            f"The range is empty or inverted: --until {until.isoformat()} is not after "
            f"--since {since.isoformat()}."
        )
    if since < now - timedelta(days=retention_days):
        raise RepriceError(
            f"--since {since.isoformat()} is before the records kept "
            f"(C4ROUTER_CDR_RETENTION_DAYS = {retention_days}: from "
            f"{(now - timedelta(days=retention_days)).isoformat()})."
        )


@dataclass(frozen=True)
class _Deck:
    id: int
    name: str
    currency: str


@dataclass(frozen=True)
class _Policy:
    kind: str
    markup: Decimal
    currency: str


@dataclass
class _Context:
    carrier_decks: dict[int, _Deck]
    sell_decks: dict[int, _Deck]
    policies: dict[int, _Policy]

    @classmethod
    def load(cls) -> _Context:
        carrier_decks, sell_decks = {}, {}
        for deck in RateDeck.objects.only("id", "name", "currency", "carrier_id", "tenant_id"):
            found = _Deck(deck.pk, deck.name, deck.currency)
            if deck.carrier_id is not None:
                carrier_decks[deck.carrier_id] = found
            elif deck.tenant_id is not None:
                sell_decks[deck.tenant_id] = found
        policies = {
            tenant.pk: _Policy(tenant.pricing, tenant.markup, tenant.pricing_currency)
            for tenant in Tenant.objects.exclude(pricing="").only(
                "id", "pricing", "markup", "pricing_currency"
            )
        }
        return cls(carrier_decks, sell_decks, policies)


def priced_number(record: dict[str, Any]) -> str:
    """The number routing priced: the LRN of a ported number, else the called number."""
    return record["lrn"] or record["callee"]


def _digits(number: str) -> str:
    """The number's leading digits (routing.engine.rates.number_probe), at most KEY_DIGITS
    (no deck prefix is longer)."""
    end = 0
    while end < len(number) and end < KEY_DIGITS and "0" <= number[end] <= "9":
        end += 1
    return number[:end]


class _Rates:
    """The rates of some decks for some prefixes, each deck's compiled as the engine's
    (routing.engine.rates.build_deck); find() is the engine's lookup at a moment."""

    def __init__(self, found: dict[int, list[RateRow]]) -> None:
        self.decks = {
            deck_id: build_deck(DeckRow(deck_id, "", "", rates=tuple(rows)))
            for deck_id, rows in found.items()
        }

    @classmethod
    def read(cls, wanted: set[tuple[int, str]], low: datetime, high: datetime) -> _Rates:
        """The rates of those (deck, prefix) pairs that may be in effect in [low, high]."""
        found: dict[int, list[RateRow]] = {}
        if not wanted:
            return cls(found)
        pairs = sorted(wanted)
        decks = [deck for deck, _ in pairs]
        prefixes = [prefix for _, prefix in pairs]
        pg = connection.vendor == "postgresql"
        with connection.cursor() as cursor:
            if pg:
                source = "SELECT * FROM unnest(%s::integer[], %s::varchar[]) AS w(deck_id, prefix)"
                params: list[Any] = [decks, prefixes]
            else:
                holes = ", ".join(["(%s, %s)"] * len(pairs))
                source = f"SELECT column1 AS deck_id, column2 AS prefix FROM (VALUES {holes})"  # noqa: S608
                params = [value for pair in pairs for value in pair]
            adapt = connection.ops.adapt_datetimefield_value
            # Our own SQL; the values are parameters.
            sql = (
                "SELECT r.deck_id, r.prefix, r.rate, r.connect_fee, r.initial_increment,"  # noqa: S608
                " r.next_increment, r.effective_from, r.effective_until"
                f" FROM routing_rate r JOIN ({source}) w"
                " ON r.deck_id = w.deck_id AND r.prefix = w.prefix"
                " WHERE r.effective_from <= %s"
                " AND (r.effective_until IS NULL OR r.effective_until > %s)"
            )
            bounds = [high, low] if pg else [adapt(high), adapt(low)]
            cursor.execute(sql, [*params, *bounds])
            for deck, prefix, rate, fee, initial, next_, begins, ends in cursor.fetchall():
                if pg:
                    row = RateRow(prefix, rate, begins, ends, fee, initial, next_)
                else:  # (SQLite: floats and text)
                    row = RateRow(prefix, _decimal(rate), _aware(begins), _aware(ends),
                                  _decimal(fee), initial, next_)  # fmt: skip
                found.setdefault(deck, []).append(row)
        return cls(found)

    def find(self, deck: int, number: str, moment: datetime) -> RateRow | None:
        """The longest prefix of the number with a rate in effect at `moment`; among its
        rates in effect, the latest started (routing.engine.rates.find_rate)."""
        compiled = self.decks.get(deck)
        return None if compiled is None else find_rate(compiled, number, moment)


_PLACES = Decimal("0.000001")
_DECIMALS = ("rate", "sell_rate", "cost", "revenue", "margin")


def _decimal(value: Any) -> Any:
    """A decimal column as SQLite's raw cursor gives it (a float): the Decimal Django's
    converter would make (six places)."""
    if value is None or isinstance(value, Decimal):
        return value
    return Decimal(repr(value)).quantize(_PLACES)


def _aware(value: Any) -> Any:
    if value is None or isinstance(value, datetime):
        return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _terms(rate: RateRow) -> Terms:
    return Terms(rate.rate, rate.connect_fee, rate.initial_increment, rate.next_increment)


def reprice(
    since: datetime,
    until: datetime,
    *,
    carriers: Sequence[int] = (),
    tenants: Sequence[int] = (),
    preview: bool = False,
    user: Any = None,
    batch: int = BATCH,
    sample_size: int = SAMPLE_SIZE,
) -> RepriceResult:
    """Re-price the records of [since, until) (see the module doc); `preview`: count and
    sample, write nothing. Raises whatever the database raises, nothing written then."""
    result = RepriceResult(since=since, until=until, preview=preview)
    with transaction.atomic():
        if connection.vendor == "postgresql" and not preview:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK])
        context = _Context.load()
        plus: dict[tuple[rollups.Key, str], list[Any]] = {}
        minus: dict[tuple[rollups.Key, str], list[Any]] = {}
        for records in _batches(since, until, carriers, tenants, batch):
            updates = _reprice_batch(records, context, result, plus, minus, sample_size)
            if updates and not preview:
                _update(updates, records[0]["start_time"], records[-1]["start_time"])
        if not preview:
            rollups.apply(rollups.Deltas(money=_difference(plus, minus)))
            done = f"{result.summary}; from {since.isoformat()} until {until.isoformat()}"
            logger.info("call records re-priced: %s", done)
            log_action(
                user,
                RateDeck,
                CHANGE,
                f"Call records re-priced: {done}.",
                repr_=f"Re-pricing of call records ({result.summary})"[:200],
            )
    return result


def _batches(
    since: datetime, until: datetime, carriers: Sequence[int], tenants: Sequence[int], size: int
) -> Iterator[list[dict[str, Any]]]:
    """The priced calls of [since, until), a day (partition) at a time, in batches of
    `size` by (start_time, id): every query bounded by the day's start_time range."""
    columns = ", ".join(connection.ops.quote_name(column) for column in _READ)
    where = [
        "kind = %s", "rate IS NOT NULL", "currency <> ''", "cost IS NOT NULL",
        "carrier_id IS NOT NULL",
    ]  # fmt: skip
    filters: list[Any] = ["call"]
    pg = connection.vendor == "postgresql"
    if carriers:
        where.append("carrier_id = ANY(%s)" if pg else _in("carrier_id", carriers))
        filters += [list(carriers)] if pg else list(carriers)
    if tenants:
        where.append("tenant_id = ANY(%s)" if pg else _in("tenant_id", tenants))
        filters += [list(tenants)] if pg else list(tenants)
    adapt = connection.ops.adapt_datetimefield_value
    # The UTC days of the range: the table's partitions (routing.cdr.partitions).
    day = since.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    while day < until:
        low, high = max(day, since), min(day + _DAY, until)
        after: tuple[datetime, int] | None = None
        while True:
            sql = (
                f"SELECT {columns} FROM routing_callrecord"  # noqa: S608 (our own names)
                f" WHERE start_time >= %s AND start_time < %s AND {' AND '.join(where)}"
            )
            params: list[Any] = [low if pg else adapt(low), high if pg else adapt(high), *filters]
            if after is not None:
                sql += " AND (start_time > %s OR (start_time = %s AND id > %s))"
                moment = after[0] if pg else adapt(after[0])
                params += [moment, moment, after[1]]
            sql += " ORDER BY start_time, id LIMIT %s"
            params.append(size)
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                rows = [dict(zip(_READ, row, strict=True)) for row in cursor.fetchall()]
            if not rows:
                break
            if not pg:
                for row in rows:
                    row["start_time"] = _aware(row["start_time"])
                    for name in _DECIMALS:
                        row[name] = _decimal(row[name])
            yield rows
            if len(rows) < size:
                break
            after = (rows[-1]["start_time"], rows[-1]["id"])
        day += _DAY


def _in(column: str, values: Sequence[int]) -> str:
    return f"{column} IN ({', '.join(['%s'] * len(values))})"


def _reprice_batch(
    records: list[dict[str, Any]],
    context: _Context,
    result: RepriceResult,
    plus: dict[tuple[rollups.Key, str], list[Any]],
    minus: dict[tuple[rollups.Key, str], list[Any]],
    sample_size: int,
) -> list[dict[str, Any]]:
    """The batch's new amounts (the records that change), counted in result; the money
    rollups' additions (plus) and removals (minus) of the changed records."""
    wanted: set[tuple[int, str]] = set()
    for record in records:
        number = _digits(priced_number(record))
        record["number"] = number
        prefixes = [number[:length] for length in range(len(number) + 1)]
        deck = context.carrier_decks.get(record["carrier_id"])
        if deck is not None:
            wanted.update((deck.id, prefix) for prefix in prefixes)
        sell = context.sell_decks.get(record["tenant_id"])
        if sell is not None and record["sell_rate"] is not None:
            wanted.update((sell.id, prefix) for prefix in prefixes)
    rates = _Rates.read(wanted, records[0]["start_time"], records[-1]["start_time"])
    updates = []
    for record in records:
        result.read += 1
        new = _repriced(record, context, rates, result)
        old = {name: record[name] for name in _WRITTEN}
        _sum(result.before, record["currency"], old)
        _sum(result.after, record["currency"], new or old)
        if new is None:
            continue
        if new == old:
            result.unchanged += 1
            continue
        result.changed += 1
        if len(result.samples) < sample_size:
            result.samples.append(
                Changed(
                    record["call_id"],
                    record["number"],
                    record["currency"],
                    old["rate"],
                    new["rate"],
                    old["cost"],
                    new["cost"],
                )
            )
        key = (rollups.key_of(record), record["currency"])
        rollups._add_money(minus, key, old, old["cost"])
        rollups._add_money(plus, key, new, new["cost"])
        updates.append({"id": record["id"], "start_time": record["start_time"], **new})
    return updates


def _repriced(
    record: dict[str, Any], context: _Context, rates: _Rates, result: RepriceResult
) -> dict[str, Any] | None:
    """The record's new rate, sell rate, billed seconds, cost, revenue and margin; None
    when it is left as it is (counted in result)."""
    currency, moment, number = record["currency"], record["start_time"], record["number"]
    deck = context.carrier_decks.get(record["carrier_id"])
    if deck is None:
        _no_rate(result, f"no rate deck for carrier #{record['carrier_id']}")
        return None
    if deck.currency != currency:
        _other(
            result,
            f"deck {deck.name} is in {deck.currency}, call {record['call_id']} in {currency}",
        )
        return None
    cost_rate = rates.find(deck.id, number, moment)
    if cost_rate is None:
        _no_rate(result, f"no rate for {number} in deck {deck.name} at {_z(moment)}")
        return None
    duration = record["duration_ms"] or 0
    billed, cost = charge(_terms(cost_rate), duration)
    new = {
        "rate": cost_rate.rate, "sell_rate": None, "billed_seconds": billed, "cost": cost,
        "revenue": None, "margin": None,
    }  # fmt: skip
    if record["sell_rate"] is None:
        return new
    sell_rate: RateRow | None = None
    sell_deck = context.sell_decks.get(record["tenant_id"])
    policy = context.policies.get(record["tenant_id"])
    if sell_deck is not None:
        if sell_deck.currency != currency:
            _other(
                result,
                f"deck {sell_deck.name} is in {sell_deck.currency}, call {record['call_id']} "
                f"in {currency}",
            )
            return None
        sell_rate = rates.find(sell_deck.id, number, moment)
        if sell_rate is None:
            _no_rate(result, f"no rate for {number} in deck {sell_deck.name} at {_z(moment)}")
            return None
    elif policy is not None and (policy.kind == PERCENT or policy.currency == deck.currency):
        sell_rate = customer_rate(policy.kind, policy.markup, cost_rate)
    if sell_rate is None:
        # A fixed markup in another currency (the exchange rate of that day is not kept), or
        # a tenant with neither a sell deck nor a policy any more: the revenue is kept.
        result.revenue_kept += 1
        new["sell_rate"], new["revenue"] = record["sell_rate"], record["revenue"]
        new["margin"] = None if record["revenue"] is None else record["revenue"] - cost
        return new
    _billed, revenue = charge(_terms(sell_rate), duration)
    new["sell_rate"], new["revenue"], new["margin"] = sell_rate.rate, revenue, revenue - cost
    return new


def _z(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")


def _no_rate(result: RepriceResult, text: str) -> None:
    result.no_rate += 1
    if len(result.missing) < SAMPLE_SIZE:
        result.missing.append(text)


def _other(result: RepriceResult, text: str) -> None:
    result.other_currency += 1
    if len(result.other) < SAMPLE_SIZE:
        result.other.append(text)


def _sum(sums: dict[str, list[Decimal]], currency: str, amounts: dict[str, Any]) -> None:
    total = sums.setdefault(currency, [Decimal(0), Decimal(0), Decimal(0)])
    total[0] += amounts["cost"] or 0
    total[1] += amounts["revenue"] or 0
    total[2] += amounts["margin"] or 0


def _difference(
    plus: dict[tuple[rollups.Key, str], list[Any]], minus: dict[tuple[rollups.Key, str], list[Any]]
) -> dict[tuple[rollups.Key, str], list[Any]]:
    out = {}
    for key in plus.keys() | minus.keys():
        added, removed = plus.get(key), minus.get(key)
        if added is None or removed is None:
            values = added or [-value for value in removed]  # type: ignore[union-attr]
        else:
            values = [a - r for a, r in zip(added, removed, strict=True)]
        if any(values):
            out[key] = values
    return out


def _update(updates: list[dict[str, Any]], low: datetime, high: datetime) -> None:
    """UPDATE the batch's changed records from arrays (one statement), bounded by the
    batch's start_time range (partition pruning)."""
    from routing.cdr.store import rows_source

    columns = ("id", "start_time", *_WRITTEN)
    pg = connection.vendor == "postgresql"
    adapt = connection.ops.adapt_datetimefield_value
    rows = [
        tuple(adapt(u[c]) if not pg and c == "start_time" else u[c] for c in columns)
        for u in updates
    ]
    table = connection.ops.quote_name(CallRecord._meta.db_table)
    sets = ", ".join(f"{c} = u.{c}" for c in _WRITTEN)
    names = ", ".join(columns)
    with connection.cursor() as cursor:
        for source, params in rows_source(columns, _TYPES, rows):
            if pg:
                sql = (
                    f"UPDATE {table} AS c SET {sets} FROM ({source}) AS u({names})"  # noqa: S608
                    " WHERE c.id = u.id AND c.start_time = u.start_time"
                    " AND c.start_time >= %s AND c.start_time <= %s"
                )
                cursor.execute(sql, [*params, low, high])
            else:
                # SQLite (the dev default): UPDATE ... FROM a VALUES list.
                aliases = ", ".join(f"column{i + 1} AS {c}" for i, c in enumerate(columns))
                sql = (
                    f"UPDATE {table} AS c SET {sets} FROM (SELECT {aliases} FROM ({source})) AS u"  # noqa: S608
                    " WHERE c.id = u.id AND c.start_time = u.start_time"
                )
                cursor.execute(sql, params)


__all__ = ["BATCH", "RepriceError", "RepriceResult", "check_range", "priced_number", "reprice"]
