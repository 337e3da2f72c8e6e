"""Store call record rows and add them to the rollups, in one transaction, at most once.

store_rows() inserts with ON CONFLICT DO NOTHING on the record's key (call-id, kind,
attempt, call start): a record delivered again (RabbitMQ redelivers what was not acked, e.g.
after the ingester died between COMMIT and ack) is not stored twice, and the rollups only
get the rows the INSERT reports as new (RETURNING), so they are not counted twice either.
The same SQL runs on PostgreSQL and SQLite (3.35+: ON CONFLICT, RETURNING).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connection, transaction

from routing.cdr import partitions, rollups
from routing.cdr.records import COLUMNS

CHUNK = 500  # rows per INSERT on SQLite: 35 columns x 500 stays under its parameter limit
_DATETIMES = frozenset({"start_time", "end_time"})
# PostgreSQL types of the columns, for unnest() (records.COLUMNS' order).
PG_TYPES = {
    "kind": "varchar", "call_id": "varchar", "attempt": "smallint", "start_time": "timestamptz",
    "end_time": "timestamptz", "direction": "varchar", "tenant_id": "integer",
    "pbx_id": "integer", "source_carrier_id": "integer", "rule_id": "integer",
    "carrier_id": "integer", "gateway_id": "integer", "attempts": "smallint",
    "source_ip": "varchar", "caller_in": "varchar", "callee_in": "varchar", "caller": "varchar",
    "callee": "varchar", "caller_out": "varchar", "callee_out": "varchar",
    "sip_code": "smallint", "sip_reason": "varchar", "q850_cause": "smallint",
    "pdd_ms": "integer", "answer_ms": "integer", "duration_ms": "bigint", "hangup": "varchar",
    "lrn": "varchar", "currency": "varchar", "rate": "numeric", "sell_rate": "numeric",
    "billed_seconds": "integer", "cost": "numeric", "revenue": "numeric", "margin": "numeric",
}  # fmt: skip


def rows_source(
    columns: Sequence[str], types: dict[str, str], rows: Sequence[Sequence[object]]
) -> list[tuple[str, list[object]]]:
    """(SQL giving these rows, its parameters), in as many statements as needed.

    PostgreSQL: one `SELECT * FROM unnest(%s::type[], ...)` with a parameter per column (the
    query text stays the same whatever the row count: psycopg parses it once and caches it;
    a VALUES list of thousands of placeholders costs more to prepare than to run). SQLite:
    VALUES lists of CHUNK rows.
    """
    if not rows:
        return []
    if connection.vendor == "postgresql":
        arrays = [list(column) for column in zip(*rows, strict=True)]
        casts = ", ".join(f"%s::{types[c]}[]" for c in columns)  # our own column types
        sql = f"SELECT * FROM unnest({casts})"  # noqa: S608
        return [(sql, arrays)]
    placeholder = "(" + ", ".join(["%s"] * len(columns)) + ")"
    out = []
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start : start + CHUNK]
        params = [value for row in chunk for value in row]
        out.append(("VALUES " + ", ".join([placeholder] * len(chunk)), params))
    return out


def store_rows(rows: Sequence[dict[str, Any]]) -> int:
    """Insert the rows that are not stored yet and add them to the rollups; return how
    many were new. Makes the day partitions they need first (PostgreSQL)."""
    if not rows:
        return 0
    partitions.ensure_for(row["start_time"] for row in rows)
    with transaction.atomic():
        new = insert_new(rows)
        rollups.apply(rollups.deltas(new))
    return len(new)


def insert_new(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING the keys: the rows that were new."""
    table = connection.ops.quote_name("routing_callrecord")
    columns = ", ".join(connection.ops.quote_name(column) for column in COLUMNS)
    by_key: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    for row in rows:
        by_key.setdefault((row["call_id"], row["kind"], row["attempt"]), []).append(row)
    new: list[dict[str, Any]] = []
    with connection.cursor() as cursor:
        for source, params in rows_source(COLUMNS, PG_TYPES, list(_values(rows))):
            # Only our own quoted names and placeholders: the values are parameters.
            sql = (
                f"INSERT INTO {table} ({columns}) {source}"
                ' ON CONFLICT ("call_id", "kind", "attempt", "start_time") DO NOTHING'
                ' RETURNING "call_id", "kind", "attempt"'
            )
            cursor.execute(sql, params)
            for call_id, kind, attempt in cursor.fetchall():
                found = by_key.get((call_id, kind, attempt))
                if found:
                    new.append(found.pop(0))
    return new


def _values(rows: Iterable[dict[str, Any]]) -> Iterable[tuple[object, ...]]:
    adapt = connection.ops.adapt_datetimefield_value
    pg = connection.vendor == "postgresql"
    for row in rows:
        yield tuple(
            adapt(row[c]) if not pg and c in _DATETIMES and row[c] is not None else row[c]
            for c in COLUMNS
        )
