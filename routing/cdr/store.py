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

CHUNK = 500  # rows per INSERT: 27 columns x 500 stays under both databases' parameter limits
_DATETIMES = frozenset({"start_time", "end_time"})


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
    placeholder = "(" + ", ".join(["%s"] * len(COLUMNS)) + ")"
    new: list[dict[str, Any]] = []
    with connection.cursor() as cursor:
        for start in range(0, len(rows), CHUNK):
            chunk = rows[start : start + CHUNK]
            by_key: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
            for row in chunk:
                by_key.setdefault((row["call_id"], row["kind"], row["attempt"]), []).append(row)
            # Only our own quoted names and placeholders: the values are parameters.
            sql = (
                f"INSERT INTO {table} ({columns}) VALUES "  # noqa: S608
                + ", ".join([placeholder] * len(chunk))
                + ' ON CONFLICT ("call_id", "kind", "attempt", "start_time") DO NOTHING'
                ' RETURNING "call_id", "kind", "attempt"'
            )
            cursor.execute(sql, list(_params(chunk)))
            for call_id, kind, attempt in cursor.fetchall():
                found = by_key.get((call_id, kind, attempt))
                if found:
                    new.append(found.pop(0))
    return new


def _params(rows: Iterable[dict[str, Any]]) -> Iterable[object]:
    adapt = connection.ops.adapt_datetimefield_value
    for row in rows:
        for column in COLUMNS:
            value = row[column]
            yield adapt(value) if column in _DATETIMES and value is not None else value
