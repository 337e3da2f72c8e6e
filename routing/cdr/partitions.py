"""Day partitions of the call records table (PostgreSQL), and retention.

routing_callrecord is PARTITION BY RANGE (start_time) (migration 0005): one table per UTC
day, routing_callrecord_pYYYYMMDD, made ahead of time (maintain(): yesterday to two days
ahead; and by the ingester for any day a batch needs: ensure_for()), and dropped whole once
older than C4ROUTER_CDR_RETENTION_DAYS (dropping a day costs the same whatever it holds,
where DELETE would rewrite it). On SQLite (quick start) the table is plain: retention
deletes rows and there is nothing to make.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings
from django.db import connection, transaction

from routing.cdr import rollups
from routing.models.cdr import CallRecord

logger = logging.getLogger("c4router.cdr")

PARENT = "routing_callrecord"
_NAME = re.compile(rf"^{PARENT}_p(\d{{8}})$")
_known: set[date] = set()
_lock = threading.Lock()


def partitioned() -> bool:
    return connection.vendor == "postgresql"


def partition_name(day: date) -> str:
    return f"{PARENT}_p{day:%Y%m%d}"


def existing() -> set[date]:
    """The days that have a partition."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = %s",
            [PARENT],
        )
        names = [name for (name,) in cursor.fetchall()]
    days = set()
    for name in names:
        found = _NAME.match(name)
        if found:
            days.add(datetime.strptime(found.group(1), "%Y%m%d").date())
    return days


def create(days: Iterable[date]) -> list[date]:
    """Make the partitions of these days that do not exist yet; return those made."""
    made = []
    with _lock:
        missing = sorted(set(days) - _known)
        if not missing:
            return []
        _known.update(existing())
        for day in missing:
            if day in _known:
                continue
            start = datetime.combine(day, time(), UTC)
            end = start + timedelta(days=1)
            # Its own short transaction: creating a partition locks the parent table.
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(
                    f'CREATE TABLE IF NOT EXISTS "{partition_name(day)}" PARTITION OF "{PARENT}" '
                    "FOR VALUES FROM (%s) TO (%s)",
                    [start, end],
                )
            _known.add(day)
            made.append(day)
    if made:
        logger.info("call records: partitions made for %s", ", ".join(map(str, made)))
    return made


def ensure_for(moments: Iterable[datetime]) -> None:
    """The partitions holding these times exist (PostgreSQL; nothing to do on SQLite)."""
    if not partitioned():
        return
    days = {moment.astimezone(UTC).date() for moment in moments}
    if not days <= _known:
        create(days)


def forget_known() -> None:
    """Drop the cache of existing partitions (tests that recreate the database)."""
    with _lock:
        _known.clear()


@dataclass(frozen=True)
class Maintenance:
    made: list[date]
    dropped: list[date]
    rows_deleted: int


def maintain(now: datetime | None = None, *, retention_days: int | None = None,
             ahead_days: int = 2) -> Maintenance:  # fmt: skip
    """Partitions from yesterday to ahead_days ahead; records and rollups older than the
    retention dropped (by partition on PostgreSQL)."""
    now = now or datetime.now(UTC)
    retention = retention_days or settings.C4ROUTER_CDR["RETENTION_DAYS"]
    today = now.astimezone(UTC).date()
    cutoff_day = today - timedelta(days=retention)
    cutoff = datetime.combine(cutoff_day, time(), UTC)
    made: list[date] = []
    dropped: list[date] = []
    deleted = 0
    if partitioned():
        made = create(today + timedelta(days=offset) for offset in range(-1, ahead_days + 1))
        with _lock:
            for day in sorted(existing()):
                if day < cutoff_day:
                    with transaction.atomic(), connection.cursor() as cursor:
                        cursor.execute(f'DROP TABLE IF EXISTS "{partition_name(day)}"')
                    _known.discard(day)
                    dropped.append(day)
        if dropped:
            logger.info("call records: partitions dropped for %s", ", ".join(map(str, dropped)))
    else:
        deleted, _ = CallRecord.objects.filter(start_time__lt=cutoff).delete()
    deleted += rollups.delete_before(cutoff)
    return Maintenance(made, dropped, deleted)
