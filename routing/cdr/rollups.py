"""5-minute sums of the call records: kept up to date by the ingester, read by the dashboard.

deltas() turns newly stored rows into additions per (bucket, direction, tenant, carrier,
gateway, rule) and per SIP code; apply() adds them with INSERT ... ON CONFLICT DO UPDATE
SET x = x + excluded.x, in the transaction that stored the rows: never a rescan of the day.
The same additions go to hourly tables. The read side (totals, stats_by, carrier_stats,
series, top_codes, top_tenants) sums the buckets of a time range, whatever the number of
calls: the whole hours of the range from the hourly tables, its edges from the 5-minute
ones (parts()).

Figures (per group of buckets):
- attempts, answered: attempts, and those answered (2xx); ASR = answered / attempts;
- NER = attempts answered or refused by the user (480, 486, 487, 600, 603) / attempts;
- ACD = talk time of the answered calls / answered calls (call records, by the carrier of
  their last attempt, the one that answered);
- PDD p50/p95: from a histogram of the attempts' post-dial delays (PDD_BOUNDS_MS),
  interpolated inside the bucket holding the percentile;
- money (TrafficMoneyRollup, per currency): the answered least-cost calls' billed seconds,
  cost, revenue, and the cost of those with a revenue (margin = revenue - that cost), by
  the carrier of their last attempt (money_by, money_totals; per step: money_series).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import QuerySet, Sum

from routing.cdr.records import USER_CODES
from routing.models.cdr import (
    BUCKET_SECONDS,
    PDD_BOUNDS_MS,
    PDD_BUCKETS,
    CdrKind,
    TrafficCodeRollup,
    TrafficCodeRollupHour,
    TrafficMoneyRollup,
    TrafficMoneyRollupHour,
    TrafficRollup,
    TrafficRollupHour,
)

HOUR = 3600
ZERO = Decimal(0)

Key = tuple[datetime, str, int, int, int, int]  # bucket, direction, tenant, carrier, gw, rule
COUNTERS = (
    "attempts", "answered", "failed_4xx", "failed_5xx", "failed_6xx", "ner_ok", "pdd_count",
    "pdd_sum_ms", "calls", "calls_answered", "duration_sum_ms",
    *(f"pdd_{index}" for index in range(PDD_BUCKETS)),
)  # fmt: skip
_INDEX = {name: index for index, name in enumerate(COUNTERS)}
KEY_COLUMNS = ("bucket", "direction", "tenant_id", "carrier_id", "gateway_id", "rule_id")


def bucket_of(moment: datetime, seconds: int = BUCKET_SECONDS) -> datetime:
    """The start of the bucket (5 minutes, or `seconds`) holding moment."""
    stamp = int(moment.timestamp())
    return datetime.fromtimestamp(stamp - stamp % seconds, UTC)


def _by_hour(delta: Deltas) -> Deltas:
    """The same additions per hour (TrafficRollupHour and TrafficCodeRollupHour)."""
    out = Deltas()
    for key, counts in delta.counters.items():
        hour_key = (bucket_of(key[0], HOUR), *key[1:])
        total = out.counters.get(hour_key)  # type: ignore[arg-type]
        if total is None:
            out.counters[hour_key] = list(counts)  # type: ignore[index]
        else:
            for index, count in enumerate(counts):
                total[index] += count
    for (key, code), count in delta.codes.items():
        hour_code = ((bucket_of(key[0], HOUR), *key[1:]), code)
        out.codes[hour_code] = out.codes.get(hour_code, 0) + count  # type: ignore[index]
    for (key, currency), sums in delta.money.items():
        hour_money = ((bucket_of(key[0], HOUR), *key[1:]), currency)
        total = out.money.get(hour_money)  # type: ignore[arg-type]
        if total is None:
            out.money[hour_money] = list(sums)  # type: ignore[index]
        else:
            for index, value in enumerate(sums):
                total[index] += value
    return out


def key_of(row: dict[str, Any]) -> Key:
    # An inbound call is counted under the carrier it came from (its route goes to a PBX).
    carrier = row["carrier_id"] or row["source_carrier_id"] or 0
    return (
        bucket_of(row["start_time"]),
        row["direction"],
        row["tenant_id"] or 0,
        carrier,
        row["gateway_id"] or 0,
        row["rule_id"] or 0,
    )


def pdd_bucket(pdd_ms: int) -> int:
    for index, bound in enumerate(PDD_BOUNDS_MS):
        if pdd_ms <= bound:
            return index
    return len(PDD_BOUNDS_MS)


# The money sums of answered least-cost calls, per key and currency (TrafficMoneyRollup).
MONEY = ("priced", "billed_seconds", "cost", "sold", "revenue", "sold_cost")


@dataclass
class Deltas:
    counters: dict[Key, list[int]] = field(default_factory=dict)
    codes: dict[tuple[Key, int], int] = field(default_factory=dict)
    money: dict[tuple[Key, str], list[Any]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        # (money alone: a re-pricing's differences, routing.cdr.reprice)
        return bool(self.counters or self.codes or self.money)


def deltas(rows: Iterable[dict[str, Any]]) -> Deltas:
    """What the rows add to the rollups."""
    out = Deltas()
    for row in rows:
        key = key_of(row)
        counts = out.counters.get(key)
        if counts is None:
            counts = out.counters[key] = [0] * len(COUNTERS)
        code = row["sip_code"]
        answered = 200 <= code < 300
        if row["kind"] == CdrKind.ATTEMPT:
            counts[_INDEX["attempts"]] += 1
            if answered:
                counts[_INDEX["answered"]] += 1
            elif 400 <= code < 700:
                counts[_INDEX[f"failed_{code // 100}xx"]] += 1
            if answered or code in USER_CODES:
                counts[_INDEX["ner_ok"]] += 1
            pdd = row["pdd_ms"]
            if pdd is not None:
                counts[_INDEX["pdd_count"]] += 1
                counts[_INDEX["pdd_sum_ms"]] += pdd
                counts[_INDEX[f"pdd_{pdd_bucket(pdd)}"]] += 1
            out.codes[key, code] = out.codes.get((key, code), 0) + 1
        else:
            counts[_INDEX["calls"]] += 1
            if answered:
                counts[_INDEX["calls_answered"]] += 1
                counts[_INDEX["duration_sum_ms"]] += row["duration_ms"] or 0
            cost = row.get("cost")
            if cost is not None:
                _add_money(out.money, (key, row["currency"]), row, cost)
    return out


def _add_money(
    money: dict[tuple[Key, str], list[Any]], at: Any, row: dict[str, Any], cost: Any
) -> None:
    sums = money.get(at)
    if sums is None:
        sums = money[at] = [0, 0, ZERO, 0, ZERO, ZERO]
    sums[0] += 1
    sums[1] += row["billed_seconds"] or 0
    sums[2] += cost
    revenue = row.get("revenue")
    if revenue is not None:
        sums[3] += 1
        sums[4] += revenue
        sums[5] += cost


def apply(delta: Deltas) -> None:
    """Add the deltas to the 5-minute and the hourly rollup tables (sorted: concurrent
    ingesters lock rows in the same order and cannot deadlock)."""
    if not delta:
        return
    _apply(delta, TrafficRollup, TrafficCodeRollup, TrafficMoneyRollup)
    _apply(_by_hour(delta), TrafficRollupHour, TrafficCodeRollupHour, TrafficMoneyRollupHour)


def _apply(delta: Deltas, rollup: type, codes_rollup: type, money_rollup: type) -> None:
    from routing.cdr.store import rows_source

    quote = connection.ops.quote_name
    adapt = connection.ops.adapt_datetimefield_value
    pg = connection.vendor == "postgresql"
    types = {"bucket": "timestamptz", "direction": "varchar", "sip_code": "smallint",
             "pdd_sum_ms": "bigint", "duration_sum_ms": "bigint", "currency": "varchar",
             "billed_seconds": "bigint", "cost": "numeric", "revenue": "numeric",
             "sold_cost": "numeric"}  # fmt: skip
    with connection.cursor() as cursor:
        columns = (*KEY_COLUMNS, *COUNTERS)
        rows = [
            (key[0] if pg else adapt(key[0]), *key[1:], *delta.counters[key])
            for key in sorted(delta.counters)
        ]
        table = quote(rollup._meta.db_table)
        for source, params in rows_source(columns, _typed(columns, types), rows):
            cursor.execute(_upsert_sql(table, columns, source, COUNTERS), params)
        columns = (*KEY_COLUMNS, "sip_code", "count")
        rows = [
            (key[0] if pg else adapt(key[0]), *key[1:], code, delta.codes[key, code])
            for key, code in sorted(delta.codes)
        ]
        table = quote(codes_rollup._meta.db_table)
        for source, params in rows_source(columns, _typed(columns, types), rows):
            cursor.execute(_upsert_sql(table, columns, source, ("count",)), params)
        if not delta.money:
            return
        columns = (*KEY_COLUMNS, "currency", *MONEY)
        rows = [
            (key[0] if pg else adapt(key[0]), *key[1:], currency, *delta.money[key, currency])
            for key, currency in sorted(delta.money)
        ]
        table = quote(money_rollup._meta.db_table)
        for source, params in rows_source(columns, _typed(columns, types), rows):
            cursor.execute(_upsert_sql(table, columns, source, MONEY), params)


def _typed(columns: Sequence[str], types: dict[str, str]) -> dict[str, str]:
    return {column: types.get(column, "integer") for column in columns}


def _upsert_sql(table: str, columns: Sequence[str], source: str, added: Sequence[str]) -> str:
    quote = connection.ops.quote_name
    names = ", ".join(quote(column) for column in columns)
    conflict = ", ".join(quote(column) for column in columns if column not in added)
    updates = ", ".join(f"{quote(c)} = {table}.{quote(c)} + excluded.{quote(c)}" for c in added)
    # Only our own quoted column names and placeholders: the values are parameters. (The
    # rows are sorted by key: concurrent ingesters lock rows in the same order.)
    return (
        f"INSERT INTO {table} ({names}) {source} ON CONFLICT ({conflict}) DO UPDATE SET {updates}"
    )


# --- reading: what a dashboard asks -----------------------------------------------------------


@dataclass(frozen=True)
class Stats:
    """The figures of a group of buckets (see the module docstring)."""

    attempts: int
    answered: int
    ner_ok: int
    calls: int
    calls_answered: int
    duration_sum_ms: int
    pdd_count: int
    pdd_sum_ms: int
    pdd_histogram: tuple[int, ...]
    failed: dict[str, int]

    @property
    def asr(self) -> float | None:
        return self.answered / self.attempts if self.attempts else None

    @property
    def ner(self) -> float | None:
        return self.ner_ok / self.attempts if self.attempts else None

    @property
    def acd_seconds(self) -> float | None:
        return self.duration_sum_ms / 1000 / self.calls_answered if self.calls_answered else None

    @property
    def pdd_mean_ms(self) -> float | None:
        return self.pdd_sum_ms / self.pdd_count if self.pdd_count else None

    def pdd_percentile_ms(self, share: float) -> float | None:
        return histogram_percentile(self.pdd_histogram, share)

    @property
    def pdd_p50_ms(self) -> float | None:
        return self.pdd_percentile_ms(0.50)

    @property
    def pdd_p95_ms(self) -> float | None:
        return self.pdd_percentile_ms(0.95)


def histogram_percentile(histogram: Sequence[int], share: float) -> float | None:
    """The value below which `share` of the observations fall, interpolated linearly inside
    the histogram bucket that holds it (the last bucket, unbounded, answers its lower bound)."""
    total = sum(histogram)
    if not total:
        return None
    rank = share * total
    seen = 0
    for index, count in enumerate(histogram):
        if count and seen + count >= rank:
            low = PDD_BOUNDS_MS[index - 1] if index else 0
            if index >= len(PDD_BOUNDS_MS):
                return float(low)
            high = PDD_BOUNDS_MS[index]
            return low + (high - low) * (rank - seen) / count
        seen += count
    return float(PDD_BOUNDS_MS[-1])


_SUMMED = (
    "attempts", "answered", "ner_ok", "calls", "calls_answered", "duration_sum_ms", "pdd_count",
    "pdd_sum_ms", "failed_4xx", "failed_5xx", "failed_6xx",
    *(f"pdd_{index}" for index in range(PDD_BUCKETS)),
)  # fmt: skip


def _stats(values: dict[str, Any]) -> Stats:
    get = lambda name: int(values.get(name) or 0)  # noqa: E731
    return Stats(
        attempts=get("attempts"),
        answered=get("answered"),
        ner_ok=get("ner_ok"),
        calls=get("calls"),
        calls_answered=get("calls_answered"),
        duration_sum_ms=get("duration_sum_ms"),
        pdd_count=get("pdd_count"),
        pdd_sum_ms=get("pdd_sum_ms"),
        pdd_histogram=tuple(get(f"pdd_{index}") for index in range(PDD_BUCKETS)),
        failed={cls: get(f"failed_{cls}") for cls in ("4xx", "5xx", "6xx")},
    )


def parts(start: datetime, end: datetime) -> list[tuple[bool, datetime, datetime]]:
    """[start, end) as (hourly?, from, to) pieces: the whole hours inside it from the hourly
    tables, the edges from the 5-minute ones (a day: 24 rows per key, not 288)."""
    first_hour = bucket_of(start + timedelta(seconds=HOUR - 1), HOUR)
    last_hour = bucket_of(end, HOUR)
    if last_hour - first_hour < timedelta(hours=2):
        return [(False, start, end)]
    out = []
    if start < first_hour:
        out.append((False, start, first_hour))
    out.append((True, first_hour, last_hour))
    if last_hour < end:
        out.append((False, last_hour, end))
    return out


def in_range(
    start: datetime, end: datetime, *, hourly: bool = False, **filters: object
) -> QuerySet[TrafficRollup]:
    """The buckets of [start, end) (bucket starts) of the 5-minute (or hourly) table, with
    optional key filters (carrier_id=, tenant_id=, gateway_id=, rule_id=, direction=)."""
    model = TrafficRollupHour if hourly else TrafficRollup
    return model.objects.filter(bucket__gte=start, bucket__lt=end, **filters)  # type: ignore[return-value]


def _merge(target: dict[str, Any], values: dict[str, Any]) -> None:
    for name in _SUMMED:
        target[name] = target.get(name, 0) + int(values.get(name) or 0)


def totals(start: datetime, end: datetime, **filters: object) -> Stats:
    """All the traffic of a range (optionally of one carrier, tenant, ...)."""
    sums: dict[str, Any] = {}
    for hourly, first, last in parts(start, end):
        query = in_range(first, last, hourly=hourly, **filters)
        _merge(sums, query.aggregate(**{name: Sum(name) for name in _SUMMED}))
    return _stats(sums)


def stats_by(
    dimension: str, start: datetime, end: datetime, **filters: object
) -> dict[int | str, Stats]:
    """The figures per carrier_id, gateway_id, tenant_id, rule_id or direction."""
    if dimension not in ("carrier_id", "gateway_id", "tenant_id", "rule_id", "direction"):
        raise ValueError(f"cannot group by {dimension!r}")
    merged: dict[int | str, dict[str, Any]] = {}
    for hourly, first, last in parts(start, end):
        rows = (
            in_range(first, last, hourly=hourly, **filters)
            .values(dimension)
            .annotate(**{name: Sum(name) for name in _SUMMED})
            .order_by(dimension)
        )
        for row in rows:
            _merge(merged.setdefault(row[dimension], {}), row)
    return {key: _stats(values) for key, values in sorted(merged.items())}


def carrier_stats(start: datetime, end: datetime) -> dict[int, Stats]:
    """ASR, ACD, NER, PDD per carrier over a range (the dashboard's carrier table)."""
    return stats_by("carrier_id", start, end)  # type: ignore[return-value]


def series(
    start: datetime, end: datetime, step_seconds: int = BUCKET_SECONDS, **filters: object
) -> list[tuple[datetime, Stats]]:
    """The figures per step (a multiple of 5 minutes) over a range, every step present
    (zeros where there was no traffic): calls per second = calls / step_seconds."""
    if step_seconds % BUCKET_SECONDS:
        raise ValueError(f"step must be a multiple of {BUCKET_SECONDS} s")
    pieces = parts(start, end) if step_seconds % HOUR == 0 else [(False, start, end)]
    rows = [
        row
        for hourly, first, last in pieces
        for row in in_range(first, last, hourly=hourly, **filters)
        .values("bucket")
        .annotate(**{name: Sum(name) for name in _SUMMED})
        .order_by("bucket")
    ]
    seconds = int(start.timestamp())
    first = datetime.fromtimestamp(seconds - seconds % step_seconds, UTC)
    steps: dict[datetime, dict[str, int]] = {}
    for row in rows:
        offset = int((row["bucket"] - first).total_seconds()) // step_seconds
        moment = first + timedelta(seconds=offset * step_seconds)
        _merge(steps.setdefault(moment, {}), row)
    out = []
    moment = first
    while moment < end:
        out.append((moment, _stats(steps.get(moment, {}))))
        moment += timedelta(seconds=step_seconds)
    return out


def top_codes(
    start: datetime,
    end: datetime,
    limit: int = 10,
    *,
    failures_only: bool = True,
    **filters: object,
) -> list[tuple[int, int]]:
    """(SIP code, attempts) most frequent first; failures only by default."""
    counts: dict[int, int] = {}
    for hourly, first, last in parts(start, end):
        model = TrafficCodeRollupHour if hourly else TrafficCodeRollup
        query = model.objects.filter(bucket__gte=first, bucket__lt=last, **filters)
        if failures_only:
            query = query.filter(sip_code__gte=300)
        for row in query.values("sip_code").annotate(n=Sum("count")):
            counts[row["sip_code"]] = counts.get(row["sip_code"], 0) + int(row["n"])
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:limit]


def top_tenants(start: datetime, end: datetime, limit: int = 10) -> list[tuple[int, Stats]]:
    """The tenants with the most calls over a range (0: calls of no known tenant)."""
    by_tenant = stats_by("tenant_id", start, end)
    ranked = sorted(by_tenant.items(), key=lambda item: (-item[1].calls, item[0]))
    return ranked[:limit]  # type: ignore[return-value]


@dataclass(frozen=True)
class Money:
    """Cost and revenue of a group of answered least-cost calls, in one currency."""

    currency: str
    priced: int = 0  # answered calls with a cost
    billed_seconds: int = 0
    cost: Decimal = ZERO
    sold: int = 0  # of those, calls with a revenue (a customer rate)
    revenue: Decimal = ZERO
    sold_cost: Decimal = ZERO  # the cost of the calls with a revenue

    @property
    def margin(self) -> Decimal | None:
        """Revenue - cost, over the calls that have both (None: no revenue)."""
        return self.revenue - self.sold_cost if self.sold else None

    @property
    def margin_percent(self) -> Decimal | None:
        margin = self.margin
        if margin is None or not self.revenue:
            return None
        return (margin * 100 / self.revenue).quantize(Decimal("0.1"))


def money_by(
    dimension: str | None, start: datetime, end: datetime, **filters: object
) -> dict[int | str, list[Money]]:
    """The money per carrier_id, tenant_id, gateway_id or rule_id (None: one group, key 0)
    over a range: a Money per currency, the largest cost first."""
    if dimension not in (None, "carrier_id", "gateway_id", "tenant_id", "rule_id"):
        raise ValueError(f"cannot group by {dimension!r}")
    group = (dimension, "currency") if dimension else ("currency",)
    merged: dict[tuple[int | str, str], dict[str, Any]] = {}
    for hourly, first, last in parts(start, end):
        model = TrafficMoneyRollupHour if hourly else TrafficMoneyRollup
        rows = (
            model.objects.filter(bucket__gte=first, bucket__lt=last, **filters)
            .values(*group)
            .annotate(**{name: Sum(name) for name in MONEY})
            .order_by(*group)
        )
        for row in rows:
            sums = merged.setdefault((row[dimension] if dimension else 0, row["currency"]), {})
            for name in MONEY:
                sums[name] = sums.get(name, 0) + (row[name] or 0)
    out: dict[int | str, list[Money]] = {}
    for (key, currency), sums in sorted(merged.items()):
        out.setdefault(key, []).append(_money(currency, sums))
    for moneys in out.values():
        moneys.sort(key=lambda money: (-money.cost, money.currency))
    return out


def _money(currency: str, sums: dict[str, Any]) -> Money:
    return Money(
        currency,
        int(sums["priced"]),
        int(sums["billed_seconds"]),
        Decimal(sums["cost"]),
        int(sums["sold"]),
        Decimal(sums["revenue"]),
        Decimal(sums["sold_cost"]),
    )


def money_series(
    start: datetime, end: datetime, step_seconds: int = BUCKET_SECONDS, **filters: object
) -> dict[str, list[tuple[datetime, Money]]]:
    """The money per step over a range, per currency (the steps of series(), every step
    present: a Money of zeros where no call was priced); {} when none was."""
    if step_seconds % BUCKET_SECONDS:
        raise ValueError(f"step must be a multiple of {BUCKET_SECONDS} s")
    pieces = parts(start, end) if step_seconds % HOUR == 0 else [(False, start, end)]
    seconds = int(start.timestamp())
    first = datetime.fromtimestamp(seconds - seconds % step_seconds, UTC)
    steps: dict[str, dict[datetime, dict[str, Any]]] = {}
    for hourly, low, high in pieces:
        model = TrafficMoneyRollupHour if hourly else TrafficMoneyRollup
        rows = (
            model.objects.filter(bucket__gte=low, bucket__lt=high, **filters)
            .values("bucket", "currency")
            .annotate(**{name: Sum(name) for name in MONEY})
            .order_by("bucket")
        )
        for row in rows:
            offset = int((row["bucket"] - first).total_seconds()) // step_seconds
            moment = first + timedelta(seconds=offset * step_seconds)
            sums = steps.setdefault(row["currency"], {}).setdefault(moment, dict.fromkeys(MONEY, 0))
            for name in MONEY:
                sums[name] += row[name] or 0
    out: dict[str, list[tuple[datetime, Money]]] = {}
    for currency, by_step in sorted(steps.items()):
        line = out[currency] = []
        moment = first
        while moment < end:
            sums = by_step.get(moment)
            line.append((moment, _money(currency, sums) if sums else Money(currency)))
            moment += timedelta(seconds=step_seconds)
    return out


def money_totals(start: datetime, end: datetime, **filters: object) -> list[Money]:
    """The money of a range (optionally of one carrier, tenant, ...), per currency."""
    return money_by(None, start, end, **filters).get(0, [])


def delete_before(cutoff: datetime) -> int:
    """Retention: forget the buckets older than cutoff (the records go by partition)."""
    deleted = 0
    for model in (
        TrafficRollup, TrafficCodeRollup, TrafficRollupHour, TrafficCodeRollupHour,
        TrafficMoneyRollup, TrafficMoneyRollupHour,
    ):  # fmt: skip
        count, _ = model.objects.filter(bucket__lt=cutoff).delete()
        deleted += count
    return deleted


__all__ = [
    "Deltas", "Money", "Stats", "apply", "bucket_of", "carrier_stats", "deltas", "money_by",
    "money_series", "money_totals", "series", "stats_by", "top_codes", "top_tenants", "totals",
]  # fmt: skip
