"""Import of the portability database (ported numbers), all or nothing, at national size.

CSV with a header line: number,lrn[,effective_from] (E.164 digits without '+';
effective_from ISO 8601, empty: in effect now). Two modes:

- full (default): the file is the whole database; numbers not in it are removed;
- delta: the file changes some numbers (new ones added, others' LRN or date changed), and
  a row with an empty lrn removes its number.

Each line is checked in Python (the models' own validators); the good rows go to a
temporary table (PostgreSQL: COPY), then three statements apply the difference
(DELETE, UPDATE, INSERT), in one transaction with one routing version bump, taken first
(its row lock orders concurrent writers). --dry-run counts what would be new, changed and
removed, then rolls back. A delta of at most PORTED_OVERLAY_MAX_ROWS numbers logs them one
by one: the workers read those numbers into an overlay over their arrays, without
rebuilding them; a bigger delta, and a full import, make every worker rebuild (which
folds its overlay in). No per-row history (tens of millions of rows): the import writes
one admin log entry with its counts (routing.admin_log; the command's --user names
who, a LogEntry needs one) and a line in the console log.
"""

from __future__ import annotations

import csv
import datetime
import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from routing.admin_log import ADDITION, CHANGE, log_action
from routing.imports import Exporter, Stage, _batched, _Errors
from routing.models import (
    Changes,
    PortedNumber,
    bump_routing_version,
    record_changes,
    validate_e164,
)
from routing.models.version import PORTED_OVERLAY_MAX_ROWS

logger = logging.getLogger("c4router.imports")

COLUMNS = ("number", "lrn", "effective_from")
FULL = "full"  # the file is the whole database
DELTA = "delta"  # the file changes some numbers
_BATCH = 10_000
# The file's rows, checked, in a temporary table (routing.imports.Stage): the difference
# with the live table is then counted and applied in SQL.
STAGE = Stage(
    "c4_lnp_stage",
    (
        ("number", "varchar(15)"),
        ("lrn", "varchar(15)"),
        ("effective_from", "timestamp with time zone"),
    ),
    key="number",
)
_STAGE = STAGE.table


@dataclass(slots=True)
class LnpImportResult:
    rows: int = 0  # lines read (without the header)
    new: int = 0
    changed: int = 0
    removed: int = 0
    unchanged: int = 0
    dry_run: bool = False
    delta: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def summary(self) -> str:
        return (
            f"{self.rows} rows: {self.new} new, {self.changed} changed, {self.removed} removed, "
            f"{self.unchanged} unchanged"
        )


def _check(value: str) -> str | None:
    try:
        validate_e164(value)
    except ValidationError as exc:
        return exc.messages[0]
    return None


def _when(text: str) -> datetime.datetime | None:
    """An ISO 8601 date or date-time (naive: the server's time zone); ValueError if not."""
    value = parse_datetime(text)
    if value is None:
        date = datetime.date.fromisoformat(text)  # ValueError when it is not one either
        value = datetime.datetime.combine(date, datetime.time())
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    return value


def _rows(file: Iterable[str], delta: bool, errors: _Errors) -> Iterable[tuple[Any, ...]]:
    """(line, number, lrn, effective_from) of each good line; the bad ones into `errors`
    (a file that is not UTF-8 text ends the reading with its error)."""
    reader = csv.reader(file)
    try:
        yield from _checked(reader, delta, errors)
    except UnicodeDecodeError:
        errors.add(reader.line_num + 1, "file", "The file is not UTF-8 text.")


def _checked(reader: Any, delta: bool, errors: _Errors) -> Iterable[tuple[Any, ...]]:
    header = next(reader, None)
    names = [cell.strip().lower() for cell in header] if header else []
    if names[:2] != ["number", "lrn"] or not set(names) <= set(COLUMNS) or len(names) > 3:
        errors.add(1, "header", f"Expected the columns {','.join(COLUMNS)} (the last optional).")
        errors.raise_if_any()
    for line, cells in enumerate(reader, start=2):
        if not cells or cells == [""]:
            continue
        if len(cells) > len(names):
            errors.add(line, "row", f"{len(cells)} cells; the header has {len(names)}.")
            continue
        padded = [*cells, *[""] * (len(names) - len(cells))]
        number, lrn = padded[0].strip(), padded[1].strip()
        effective_text = padded[2].strip() if len(names) == 3 else ""
        bad = False
        problem = _check(number)
        if problem:
            errors.add(line, "number", problem)
            bad = True
        if lrn or not delta:
            problem = _check(lrn) if lrn else "This field is required (except in a delta)."
            if problem:
                errors.add(line, "lrn", problem)
                bad = True
        effective = None
        if effective_text:
            try:
                effective = _when(effective_text)
            except ValueError:
                errors.add(line, "effective_from", "Enter an ISO 8601 date or date-time.")
                bad = True
        if not bad:
            yield line, number, lrn, effective


def import_ported_numbers(
    file: Iterable[str],
    *,
    delta: bool = False,
    dry_run: bool = False,
    user: Any = None,
    filename: str = "",
) -> LnpImportResult:
    """Apply a portability file (see the module doc). Raises ImportFailed, nothing written,
    when any line is bad or a number appears twice."""
    result = LnpImportResult(dry_run=dry_run, delta=delta)
    errors = _Errors()
    table = PortedNumber._meta.db_table
    with transaction.atomic():
        version = bump_routing_version(changed=Changes())  # the lock; changes logged at the end
        with connection.cursor() as cursor:
            STAGE.create(cursor)
            result.rows = STAGE.fill(cursor, _rows(file, delta, errors), errors)
            errors.raise_if_any()
            if connection.vendor == "postgresql":
                # Statistics for the planner (Stage.fill analyzes the staging table): the
                # ported numbers' may say "empty" when they were taken before a first import
                # of millions. With those, the joins below become nested loops over millions
                # of rows each (hours instead of a minute).
                cursor.execute(f"ANALYZE {table}")
            STAGE.duplicates(cursor, errors, str)
            errors.raise_if_any()
            result.removed = _removed(cursor, table, delta)
            cursor.execute(
                f"SELECT count(*) FROM {_STAGE} s JOIN {table} p ON p.number = s.number "  # noqa: S608
                "WHERE s.lrn <> '' AND (p.lrn <> s.lrn OR p.effective_from IS DISTINCT FROM "
                "s.effective_from)"
            )
            result.changed = cursor.fetchone()[0]
            cursor.execute(
                f"SELECT count(*) FROM {_STAGE} s WHERE s.lrn <> '' AND NOT EXISTS "  # noqa: S608
                f"(SELECT 1 FROM {table} p WHERE p.number = s.number)"
            )
            result.new = cursor.fetchone()[0]
            cursor.execute(
                f"SELECT count(*) FROM {_STAGE} s JOIN {table} p ON p.number = s.number "  # noqa: S608
                "WHERE s.lrn <> '' AND p.lrn = s.lrn AND p.effective_from IS NOT DISTINCT "
                "FROM s.effective_from"
            )
            result.unchanged = cursor.fetchone()[0]
            if not dry_run:
                changed = _changed_numbers(cursor, table, delta, result)
                _apply(cursor, table, delta)
                record_changes(version, changed)
            STAGE.drop(cursor)
        if dry_run:
            transaction.set_rollback(True)
        else:
            done = f"{result.summary} ({'delta' if delta else 'full'})"
            logger.info("ported numbers import of %s: %s", filename or "a file", done)
            log_action(
                user,
                PortedNumber,
                CHANGE if result.removed or result.changed else ADDITION,
                f"Ported numbers import of {filename or 'a file'}: {done}.",
                repr_=f"Ported numbers import ({done})"[:200],
            )
    return result


def _changed_numbers(
    cursor: Any, table: str, delta: bool, result: LnpImportResult
) -> Changes | None:
    """The numbers a small delta changes, for the workers' overlay; None (every worker
    rebuilds) for a full import or a delta of more than PORTED_OVERLAY_MAX_ROWS numbers."""
    if not delta or result.new + result.changed + result.removed > PORTED_OVERLAY_MAX_ROWS:
        return None
    cursor.execute(
        f"SELECT s.number FROM {_STAGE} s LEFT JOIN {table} p ON p.number = s.number "  # noqa: S608
        "WHERE (s.lrn = '' AND p.number IS NOT NULL) OR (s.lrn <> '' AND (p.number IS NULL "
        "OR p.lrn <> s.lrn OR p.effective_from IS DISTINCT FROM s.effective_from))"
    )
    return Changes(ported=[(None, None, number) for (number,) in cursor.fetchall()])


def _removed(cursor: Any, table: str, delta: bool) -> int:
    if delta:
        cursor.execute(
            f"SELECT count(*) FROM {_STAGE} s JOIN {table} p ON p.number = s.number "  # noqa: S608
            "WHERE s.lrn = ''"
        )
    else:
        cursor.execute(
            f"SELECT count(*) FROM {table} p WHERE NOT EXISTS "  # noqa: S608
            f"(SELECT 1 FROM {_STAGE} s WHERE s.number = p.number)"
        )
    return cursor.fetchone()[0]


def _apply(cursor: Any, table: str, delta: bool) -> None:
    if delta:
        cursor.execute(
            f"DELETE FROM {table} WHERE number IN "  # noqa: S608
            f"(SELECT number FROM {_STAGE} WHERE lrn = '')"
        )
    else:
        cursor.execute(
            f"DELETE FROM {table} WHERE NOT EXISTS "  # noqa: S608
            f"(SELECT 1 FROM {_STAGE} s WHERE s.number = {table}.number)"
        )
    cursor.execute(
        f"UPDATE {table} SET lrn = s.lrn, effective_from = s.effective_from "  # noqa: S608
        f"FROM {_STAGE} s WHERE {table}.number = s.number AND s.lrn <> '' "
        f"AND ({table}.lrn <> s.lrn OR {table}.effective_from IS DISTINCT FROM "
        "s.effective_from)"
    )
    # The numbers already there were updated above: the unique index skips them. (Not an
    # anti-join against the table being inserted into: with the table empty when the
    # statement is planned, that is a scan of the growing table per staged row.)
    cursor.execute(
        f"INSERT INTO {table} (number, lrn, effective_from) "  # noqa: S608
        f"SELECT number, lrn, effective_from FROM {_STAGE} s WHERE s.lrn <> '' "
        "ON CONFLICT (number) DO NOTHING"
    )


def _ported_batches(queryset: Any) -> Iterable[list[list[str]]]:
    """Ported numbers (all, or `queryset`) as rows of cells, a batch at a time, in the
    import's format (effective_from in ISO 8601, UTC)."""
    if queryset is None:
        queryset = PortedNumber.objects.all()
    rows = queryset.order_by("number").values_list("number", "lrn", "effective_from")
    for batch in _batched(rows.iterator(chunk_size=_BATCH), _BATCH):
        yield [
            [number, lrn, when.astimezone(datetime.UTC).isoformat() if when else ""]
            for number, lrn, when in batch
        ]


# The export, in the import's format: an export imported again (full) changes nothing.
export_ported_numbers = Exporter(COLUMNS, _ported_batches)


__all__ = [
    "COLUMNS",
    "DELTA",
    "FULL",
    "LnpImportResult",
    "export_ported_numbers",
    "import_ported_numbers",
]
