"""Import of a rate deck (a carrier's buy rates or a tenant's sell rates): preview, then
all or nothing, with an effective date.

CSV with a header line; columns in any order, `prefix` and `rate` required:

    prefix,rate,connect_fee,initial_increment,next_increment,description

- prefix: E.164 digits, with or without a leading '+' ("+4420" is 4420); empty: every number.
- rate, connect_fee: per minute and per answered call, in the deck's currency, a decimal
  point ("0.0125"); a decimal comma ("0,0125") is refused with a message naming the line
  (read as two cells in a comma-separated file, it would price the wrong column).
- initial_increment, next_increment: seconds (>= 1; empty: 1).

The file is the deck from the effective date on (default: now; never in the past): each
prefix of the file is compared with the deck's rate in effect at that date, and the
preview counts what is new, increased, decreased, unchanged, changed in its other terms
(same rate, another connect fee, increment or description), and removed (in effect then,
not in the file), with a sample of each. Apply: an unchanged rate stays as it is; every
other rate in effect at the date ends there (effective_until), the deck's rates starting
at or after it are deleted (the file replaces them), and the file's new and changed rates
start at it. Rates that ended before it are not touched: the deck's history stays, and
every row written, ended or deleted gets its history record (routing.imports._history_select).

Scale: the file is read one record at a time through the CSV gate (routing.imports._records:
NUL and other control characters, formula cells, a semicolon-separated file), each checked
record goes by COPY into a temporary table (routing.imports.Stage), and SQL compares and
applies: memory stays flat whatever the deck's size (bench/rates_import_bench.py).
"""

from __future__ import annotations

import datetime
import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from routing.admin_log import CHANGE, log_action
from routing.imports import (
    BATCH_SIZE,
    Exporter,
    ImportFailed,
    RowError,
    Stage,
    _batched,
    _Cleaner,
    _Errors,
    _history_select,
    _no_progress,
    _records,
    _Write,
)
from routing.models import Changes, Rate, RateDeck, bump_routing_version
from routing.models.rates import plain
from routing.validators import PREFIX_MAX_LENGTH

logger = logging.getLogger("c4router.imports")

COLUMNS = ("prefix", "rate", "connect_fee", "initial_increment", "next_increment", "description")
REQUIRED = ("prefix", "rate")
SAMPLE_SIZE = 10
RATES_COMMAND = "manage.py import_rates DECK FILE"  # for a file over the upload limit
# What the preview counts, in the order it shows them.
KINDS = ("new", "increased", "decreased", "unchanged", "terms", "removed")
KIND_LABELS = {
    "new": "new",
    "increased": "increased",
    "decreased": "decreased",
    "unchanged": "unchanged",
    "terms": "same rate, other terms changed",
    "removed": "removed",
}

STAGE = Stage(
    "c4_rate_stage",
    (
        ("prefix", f"varchar({PREFIX_MAX_LENGTH})"),
        ("rate", "numeric(12, 6)"),
        ("connect_fee", "numeric(12, 6)"),
        ("initial_increment", "integer"),
        ("next_increment", "integer"),
        ("description", "varchar(200)"),
    ),
    key="prefix",
)
_CURRENT = "c4_rate_current"
_DIFF = "c4_rate_diff"

# The common cells, checked without the model field's clean(): a decimal the column holds
# (6 places, 12 digits) and a positive count of seconds. Anything else goes through the
# model field for its own message.
_DECIMAL_RE = re.compile(r"\d{1,6}(\.\d{0,6})?|\.\d{1,6}")
_DECIMAL_COMMA_RE = re.compile(r"\d*,\d+")
_SECONDS_RE = re.compile(r"[1-9]\d{0,8}")
_PREFIX_RE = re.compile(rf"\d{{0,{PREFIX_MAX_LENGTH}}}")
_SPLIT_HINT = (
    "A rate with a decimal comma (0,0125) splits into two cells: write 0.0125 (a decimal point)."
)


@dataclass(frozen=True, slots=True)
class RateChange:
    """One prefix of a preview's sample: its rate before (None: new) and after (None:
    removed), as people read them."""

    prefix: str
    old: str | None
    new: str | None
    line: int | None  # the file's line (None: removed)

    def as_dict(self) -> dict[str, Any]:
        return {"prefix": self.prefix, "old": self.old, "new": self.new, "line": self.line}


@dataclass(slots=True)
class RateImportResult:
    deck: str
    effective_from: datetime.datetime
    preview: bool
    rows: int = 0  # lines read (without the header)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    samples: dict[str, list[RateChange]] = field(default_factory=dict)
    ended: int = 0  # rates ended at the effective date (apply)
    deleted: int = 0  # rates starting at or after it, replaced (apply)
    created: int = 0  # rates starting at it (apply)

    @property
    def summary(self) -> str:
        parts = ", ".join(f"{self.counts[kind]} {KIND_LABELS[kind]}" for kind in KINDS)
        return f"{self.rows} rows: {parts}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "deck": self.deck,
            "effective_from": self.effective_from.isoformat(),
            "preview": self.preview,
            "rows": self.rows,
            "counts": dict(self.counts),
            "samples": {kind: [c.as_dict() for c in self.samples.get(kind, [])] for kind in KINDS},
            "ended": self.ended,
            "deleted": self.deleted,
            "created": self.created,
        }


def effective_date_error(when: datetime.datetime, now: datetime.datetime) -> str | None:
    """Why an effective date is refused (in the past: calls already priced would change)."""
    if when < now - datetime.timedelta(seconds=1):
        return (
            f"The effective date {when.isoformat()} is in the past: the rates of calls "
            "already made would change. Leave it empty for now, or give a later date."
        )
    return None


def import_rates(
    deck: RateDeck,
    file: Iterable[str],
    *,
    effective_from: datetime.datetime | None = None,
    preview: bool = False,
    user: Any = None,
    filename: str = "",
    sample_size: int = SAMPLE_SIZE,
) -> RateImportResult:
    """Compare a deck file with `deck` at `effective_from` and, unless `preview`, apply it
    (see the module doc). Raises ImportFailed, nothing written, when any line is bad, a
    prefix appears twice, or the date is in the past."""
    now = timezone.now()
    when = effective_from or now
    if timezone.is_naive(when):
        when = timezone.make_aware(when)
    problem = effective_date_error(when, now)
    if problem:
        raise ImportFailed([RowError(0, "effective_from", problem)])
    result = RateImportResult(deck=deck.name, effective_from=when, preview=preview)
    errors = _Errors()
    with transaction.atomic():
        with connection.cursor() as cursor:
            STAGE.create(cursor)
            result.rows = STAGE.fill(cursor, _checked(file, errors), errors)
            if not result.rows and not errors:
                # An empty deck would end every rate: deleting rates says so plainly.
                errors.add(2, "file", "The file has no rates (only a header line).")
            errors.raise_if_any()
            STAGE.duplicates(cursor, errors, lambda prefix: f"Prefix {prefix or '(empty)'}")
            errors.raise_if_any()
            if not preview:
                # The version's row lock before reading the deck: it orders concurrent
                # writers (READ COMMITTED: the comparison below sees what a previous import
                # committed), and is held for the comparison and the writes only, not while
                # the file is read. The change log names this deck whole: the workers re-read
                # it alone and keep the rules and the other decks (routing.loader).
                bump_routing_version(changed=Changes(rates=[(deck.pk, None, None)]))
            _compare(cursor, deck.pk, when)
            _count(cursor, result, sample_size)
            if not preview:
                write = _Write(
                    user if getattr(user, "is_authenticated", False) else None,
                    f"rate import of {filename or 'a file'}"[:100],
                    now,
                    _no_progress,
                )
                _apply(cursor, deck.pk, when, write, result)
            for table in (_DIFF, _CURRENT):
                cursor.execute(f"DROP TABLE IF EXISTS {table}")
            STAGE.drop(cursor)
        if preview:
            transaction.set_rollback(True)
        else:
            done = f"{result.summary}; from {when.isoformat()}"
            logger.info("rate import of %s into %s: %s", filename or "a file", deck.name, done)
            log_action(
                user,
                RateDeck,
                CHANGE,
                f"Rate import of {filename or 'a file'}: {done}.",
                obj=deck,
                repr_=f"{deck.name}: rate import ({result.summary})"[:200],
            )
    return result


def _checked(file: Iterable[str], errors: _Errors) -> Iterator[tuple[Any, ...]]:
    """(line, prefix, rate, connect_fee, initial, next, description) of each good record;
    the bad ones into `errors`."""
    cleaner = _Cleaner(Rate)
    for line, row in _records(file, COLUMNS, REQUIRED, errors, extra_cells_hint=_SPLIT_HINT):
        ok = True
        prefix = row["prefix"]
        if prefix.startswith("+"):
            prefix = prefix[1:]
        if not _PREFIX_RE.fullmatch(prefix):
            ok = _field(cleaner, errors, line, "prefix", prefix) is not None and ok
        rate = _decimal(cleaner, errors, line, "rate", row["rate"], required=True)
        fee = _decimal(cleaner, errors, line, "connect_fee", row.get("connect_fee", ""))
        first = _seconds(cleaner, errors, line, "initial_increment", row.get("initial_increment"))
        then = _seconds(cleaner, errors, line, "next_increment", row.get("next_increment"))
        description = row.get("description", "")
        if len(description) > 200:
            ok = _field(cleaner, errors, line, "description", description) is not None and ok
        if ok and rate is not None and fee is not None and first and then:
            yield line, prefix, rate, fee, first, then, description


def _field(cleaner: _Cleaner, errors: _Errors, line: int, name: str, raw: str) -> Any:
    """The model field's own clean() (and message); None when it refuses the cell."""
    try:
        value = cleaner(name, raw)
    except ValidationError as exc:
        errors.add_validation(line, exc, name)
        return None
    return value if value is not None else ""


def _decimal(
    cleaner: _Cleaner, errors: _Errors, line: int, name: str, raw: str, required: bool = False
) -> str | None:
    if not raw:
        if required:
            errors.add(line, name, "This field cannot be blank.")
            return None
        return "0"
    if _DECIMAL_RE.fullmatch(raw):
        return raw
    if _DECIMAL_COMMA_RE.fullmatch(raw):
        errors.add(
            line,
            name,
            f"“{raw}” has a decimal comma: write {raw.replace(',', '.')} (a decimal point).",
        )
        return None
    value = _field(cleaner, errors, line, name, raw)
    return None if value is None else str(value)


def _seconds(
    cleaner: _Cleaner, errors: _Errors, line: int, name: str, raw: str | None
) -> int | None:
    if not raw:
        return 1
    if _SECONDS_RE.fullmatch(raw):
        return int(raw)
    value = _field(cleaner, errors, line, name, raw)
    return None if value is None else int(value)


# --- Compare and apply, in SQL ----------------------------------------------------------------

_TABLE = Rate._meta.db_table


def _compare(cursor: Any, deck_id: int, when: datetime.datetime) -> None:
    """c4_rate_current: the deck's rate in effect at `when` for each prefix (the latest
    start, as the engine's find_rate); c4_rate_diff: each prefix of either with its kind."""
    if connection.vendor == "postgresql":
        # Statistics for the planner: the rates' may still say "empty" right after a first
        # import of a million (autovacuum has not come by), and the writes below join the
        # rates with the difference: planned on "empty", a nested loop over both.
        cursor.execute(f"ANALYZE {_TABLE}")
    cursor.execute(f"DROP TABLE IF EXISTS {_CURRENT}")
    cursor.execute(
        f"CREATE TEMPORARY TABLE {_CURRENT} AS SELECT id, prefix, rate, connect_fee, "  # noqa: S608
        "initial_increment, next_increment, description, effective_until FROM ("
        "SELECT r.*, row_number() OVER (PARTITION BY prefix ORDER BY effective_from DESC) AS n "
        f"FROM {_TABLE} r WHERE deck_id = %s AND effective_from <= %s "
        "AND (effective_until IS NULL OR effective_until > %s)) AS latest WHERE n = 1",
        [deck_id, when, when],
    )
    if connection.vendor == "postgresql":
        cursor.execute(f"ANALYZE {_CURRENT}")
    same_terms = (
        "s.connect_fee = c.connect_fee AND s.initial_increment = c.initial_increment "
        "AND s.next_increment = c.next_increment AND s.description = c.description"
    )
    cursor.execute(f"DROP TABLE IF EXISTS {_DIFF}")
    cursor.execute(
        f"CREATE TEMPORARY TABLE {_DIFF} AS "  # noqa: S608
        "SELECT s.prefix, CASE WHEN c.id IS NULL THEN 'new' "
        "WHEN s.rate > c.rate THEN 'increased' WHEN s.rate < c.rate THEN 'decreased' "
        f"WHEN {same_terms} AND c.effective_until IS NULL THEN 'unchanged' "
        "ELSE 'terms' END AS kind, c.id AS current_id, c.rate AS old_rate, s.rate AS new_rate, "
        f"s.line FROM {STAGE.table} s LEFT JOIN {_CURRENT} c ON c.prefix = s.prefix "
        "UNION ALL "
        "SELECT c.prefix, 'removed', c.id, c.rate, NULL, NULL "
        f"FROM {_CURRENT} c WHERE NOT EXISTS "
        f"(SELECT 1 FROM {STAGE.table} s WHERE s.prefix = c.prefix)"
    )
    if connection.vendor == "postgresql":
        cursor.execute(f"ANALYZE {_DIFF}")


def _count(cursor: Any, result: RateImportResult, sample_size: int) -> None:
    cursor.execute(f"SELECT kind, count(*) FROM {_DIFF} GROUP BY kind")  # noqa: S608
    for kind, count in cursor.fetchall():
        result.counts[kind] = count
    for kind in KINDS:
        if not result.counts[kind]:
            continue
        cursor.execute(
            f"SELECT prefix, old_rate, new_rate, line FROM {_DIFF} "  # noqa: S608
            "WHERE kind = %s ORDER BY prefix LIMIT %s",
            [kind, sample_size],
        )
        result.samples[kind] = [
            RateChange(prefix, _shown(old), _shown(new), line)
            for prefix, old, new, line in cursor.fetchall()
        ]


def _shown(value: Decimal | float | str | None) -> str | None:
    return None if value is None else plain(str(value))


def _apply(
    cursor: Any, deck_id: int, when: datetime.datetime, write: _Write, result: RateImportResult
) -> None:
    """End, delete and insert (each with its history records), in this order: the file's
    rates start at `when`, where the ones they replace end."""

    # NOT EXISTS, not NOT IN: an anti-join PostgreSQL can hash (and spill to disk), where
    # NOT IN over a million kept prefixes would run its subquery once per row.
    def kept(column: str, outer: str) -> str:
        return (
            f"NOT EXISTS (SELECT 1 FROM {_DIFF} d WHERE d.kind = 'unchanged' "  # noqa: S608
            f"AND d.{column} = {outer})"
        )

    # In effect at `when` (started before it) and not kept: ends at `when`.
    ending = (
        "deck_id = %s AND effective_from < %s AND (effective_until IS NULL OR effective_until > "
        f"%s) AND {kept('prefix', _TABLE + '.prefix')}"
    )
    cursor.execute(
        f"UPDATE {_TABLE} SET effective_until = %s, updated_at = %s WHERE {ending}",  # noqa: S608
        [when, write.date, deck_id, when, when],
    )
    result.ended = cursor.rowcount
    history = _history_select(Rate, write, "~")
    if history is not None and result.ended:
        cursor.execute(
            history[0] + "deck_id = %s AND effective_until = %s AND updated_at = %s",
            [*history[1], deck_id, when, write.date],
        )
    # Starting at or after `when`, not kept: the file replaces them.
    doomed = f"deck_id = %s AND effective_from >= %s AND {kept('current_id', _TABLE + '.id')}"
    history = _history_select(Rate, write, "-")
    if history is not None:
        cursor.execute(history[0] + doomed, [*history[1], deck_id, when])
    cursor.execute(f"DELETE FROM {_TABLE} WHERE {doomed}", [deck_id, when])  # noqa: S608
    result.deleted = cursor.rowcount
    cursor.execute(
        f"INSERT INTO {_TABLE} (deck_id, prefix, rate, connect_fee, initial_increment, "  # noqa: S608
        "next_increment, effective_from, effective_until, description, created_at, updated_at) "
        "SELECT %s, s.prefix, s.rate, s.connect_fee, s.initial_increment, s.next_increment, "
        f"%s, NULL, s.description, %s, %s FROM {STAGE.table} s "
        f"WHERE {kept('prefix', 's.prefix')}",
        [deck_id, when, write.date, write.date],
    )
    result.created = cursor.rowcount
    history = _history_select(Rate, write, "+")
    if history is not None and result.created:
        cursor.execute(
            history[0] + "deck_id = %s AND effective_from = %s AND created_at = %s",
            [*history[1], deck_id, when, write.date],
        )


def rates_exporter(deck: RateDeck, at: datetime.datetime | None = None) -> Exporter:
    """The deck's rates in effect at `at` (default: now), one line per prefix, in the import
    format: `import_rates` of this file at a later date changes nothing ("unchanged"
    everywhere), so export -> edit -> import is how an operator edits a deck in a
    spreadsheet. Streamed a batch at a time (routing.imports.Exporter), every cell through
    the CSV gate on the way out."""

    def batches(_queryset: Any = None) -> Iterator[list[list[str]]]:
        moment = at or timezone.now()
        rows = (
            Rate.objects.filter(deck=deck, effective_from__lte=moment)
            .exclude(effective_until__lte=moment)
            .order_by("prefix", "-effective_from", "-id")
            .values_list("prefix", *COLUMNS[1:])
            .iterator(chunk_size=BATCH_SIZE)
        )

        def lines() -> Iterator[list[str]]:
            last = None
            for prefix, rate, fee, initial, following, description in rows:
                if prefix == last:  # an older rate of the prefix, still open: the latest wins
                    continue
                last = prefix
                yield [prefix, plain(rate), plain(fee), str(initial), str(following), description]

        yield from _batched(lines(), BATCH_SIZE)

    return Exporter(COLUMNS, batches)


__all__ = [
    "COLUMNS",
    "KINDS",
    "KIND_LABELS",
    "RATES_COMMAND",
    "RateChange",
    "RateImportResult",
    "effective_date_error",
    "import_rates",
    "rates_exporter",
]
