"""Import of a rate deck (a carrier's buy rates or a tenant's sell rates): preview, then
all or nothing, with an effective date.

CSV with a header line; columns in any order, `prefix` and `rate` required:

    prefix,rate,connect_fee,initial_increment,next_increment,description,effective_from

- prefix: E.164 digits, with or without a leading '+' ("+4420" is 4420); empty: every number.
- rate, connect_fee: per minute and per answered call, in the deck's currency, a decimal
  point ("0.0125"); a decimal comma ("0,0125") is refused with a message naming the line
  (read as two cells in a comma-separated file, it would price the wrong column).
- initial_increment, next_increment: seconds (>= 1; empty: 1).
- change: what the line does, as vendors' rate notices say it: empty, new, increase(d),
  decrease(d) or unchanged (the preview computes those itself: the cell is not used), or
  **removed** (or closed): the prefix is closed at the line's date (its rate in effect then
  ends there, its rates starting at or after it go; the line's rate and terms, if any, are
  not used). Any other word is refused with a message naming the line. A delta file closes
  prefixes with it; in a full file a prefix left out is removed at the file's date, and a
  removed line closes it at its own date.
- effective_from: the line's own start, an ISO 8601 date (2026-12-01: its midnight) or
  date-time (2026-12-01T06:00+01:00); without an offset, in the server's time zone
  (settings.TIME_ZONE, UTC unless set), as the file's own date. Empty: the file's date. Not
  in the past, and not before the file's date (the file says the deck is this from its
  date on): either is refused with a message naming the line.

The file is the deck from the effective date on (default: now; never in the past): each
prefix of the file is compared with the deck's rate in effect at that date, and the
preview counts what is new, increased, decreased, unchanged, changed in its other terms
(same rate, another connect fee, increment or description), and removed (in effect then,
not in the file), with a sample of each. Apply: an unchanged rate stays as it is; every
other rate in effect at the date ends there (effective_until), the deck's rates starting
at or after it are deleted (the file replaces them), and the file's new and changed rates
start at it. Rates that ended before it are not touched: the deck's history stays, and
every row written, ended or deleted gets its history record (routing.imports._history_select).

A line with its own date is all of that at its date: compared with the deck's rate in
effect then, its rate starts then, the rate in effect then ends there and the prefix's
rates starting at or after it are replaced. Between the file's date and a later line date
the prefix keeps what the deck has for that time. The prefixes removed (not in the file)
end at the file's date.

Two modes, as the ported numbers' import (routing.imports_lnp):

- full (default): the file is the whole deck, as above;
- delta: the file lists only the prefixes that change. Those are compared, counted,
  sampled and applied exactly as in a full import; the deck's other prefixes are left as
  they are (nothing ended or deleted outside the file's prefixes). A delta closes a prefix
  only with a line saying so (`change` removed): an empty rate is refused, as in a full
  file (a forgotten cell must not end a destination).

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
from django.utils.dateparse import parse_datetime

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
# The columns a file may have: the export's, and a line's own start (never exported: the
# export is the deck at one moment).
FILE_COLUMNS = (*COLUMNS, "effective_from", "change")
# The `change` cell: the words that close the prefix, and the ones only said (not used).
CLOSING = frozenset({"removed", "closed"})
SAID = frozenset({"", "new", "increase", "increased", "decrease", "decreased", "unchanged"})
REQUIRED = ("prefix", "rate")
FULL = "full"  # the file is the whole deck
DELTA = "delta"  # the file lists only the prefixes that change
MODES = (FULL, DELTA)
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
        # The line's own start; NULL: the file's date (most lines: nothing to write).
        ("starts", "timestamp with time zone"),
        # A `removed` line: the prefix closes at the line's moment (its rate: NULL).
        ("closes", "boolean"),
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
    # The line's own date, when it is not the file's (None: the file's date).
    effective_from: datetime.datetime | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RateChange:
        when = data.get("effective_from")
        return cls(data["prefix"], data["old"], data["new"], data["line"],
                   datetime.datetime.fromisoformat(when) if when else None)  # fmt: skip

    def as_dict(self) -> dict[str, Any]:
        return {
            "prefix": self.prefix,
            "old": self.old,
            "new": self.new,
            "line": self.line,
            "effective_from": self.effective_from.isoformat() if self.effective_from else None,
        }


@dataclass(slots=True)
class RateImportResult:
    deck: str
    effective_from: datetime.datetime
    preview: bool
    mode: str = FULL
    rows: int = 0  # lines read (without the header)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    samples: dict[str, list[RateChange]] = field(default_factory=dict)
    ended: int = 0  # rates ended at the effective date (apply)
    deleted: int = 0  # rates starting at or after it, replaced (apply)
    created: int = 0  # rates starting at it (apply)

    @property
    def delta(self) -> bool:
        return self.mode == DELTA

    @property
    def kinds(self) -> tuple[str, ...]:
        """The kinds this import shows: a delta removes only the prefixes its lines close."""
        return tuple(
            kind
            for kind in KINDS
            if not (self.delta and kind == "removed" and not self.counts["removed"])
        )

    @property
    def summary(self) -> str:
        parts = ", ".join(f"{self.counts[kind]} {KIND_LABELS[kind]}" for kind in self.kinds)
        return f"{self.rows} rows: {parts}"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RateImportResult:
        """The result as_dict() gave (from the import's child process)."""
        return cls(
            deck=data["deck"],
            effective_from=datetime.datetime.fromisoformat(data["effective_from"]),
            preview=data["preview"],
            mode=data["mode"],
            rows=data["rows"],
            counts=dict(data["counts"]),
            samples={
                kind: [RateChange.from_dict(item) for item in items]
                for kind, items in data["samples"].items()
                if items
            },
            ended=data["ended"],
            deleted=data["deleted"],
            created=data["created"],
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "deck": self.deck,
            "effective_from": self.effective_from.isoformat(),
            "preview": self.preview,
            "mode": self.mode,
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


def parse_moment(text: str) -> datetime.datetime | None:
    """An ISO 8601 date-time, or a date (its midnight), aware: without an offset, in the
    server's time zone (settings.TIME_ZONE, UTC unless set), as the effective date of the
    admin's form and the command. None when the text is neither."""
    try:
        value = parse_datetime(text)
    except ValueError:  # well formed, out of range (a 25th hour)
        return None
    if value is None:
        try:
            value = datetime.datetime.combine(datetime.date.fromisoformat(text), datetime.time())
        except ValueError:
            return None
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    return value


def import_rates(
    deck: RateDeck,
    file: Iterable[str],
    *,
    effective_from: datetime.datetime | None = None,
    mode: str = FULL,
    preview: bool = False,
    user: Any = None,
    filename: str = "",
    sample_size: int = SAMPLE_SIZE,
) -> RateImportResult:
    """Compare a deck file with `deck` at `effective_from` (and each line with its own date)
    and, unless `preview`, apply it (see the module doc); `mode` FULL or DELTA. Raises
    ImportFailed, nothing written, when any line is bad, a prefix appears twice, or a date
    is in the past."""
    if mode not in MODES:
        raise ValueError(f"mode {mode!r}: use {FULL!r} or {DELTA!r}")
    now = timezone.now()
    when = effective_from or now
    if timezone.is_naive(when):
        when = timezone.make_aware(when)
    problem = effective_date_error(when, now)
    if problem:
        raise ImportFailed([RowError(0, "effective_from", problem)])
    result = RateImportResult(deck=deck.name, effective_from=when, preview=preview, mode=mode)
    errors = _Errors()
    with transaction.atomic():
        with connection.cursor() as cursor:
            STAGE.create(cursor)
            rows = _checked(file, errors, when, now)
            result.rows = STAGE.fill(cursor, rows, errors)
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
            _compare(cursor, deck.pk, when, delta=mode == DELTA)
            _count(cursor, result, sample_size)
            if not preview:
                write = _Write(
                    user if getattr(user, "is_authenticated", False) else None,
                    f"rate import of {filename or 'a file'}"[:100],
                    now,
                    _no_progress,
                )
                _apply(cursor, deck.pk, when, write, result, delta=mode == DELTA)
            for table in (_DIFF, _CURRENT):
                cursor.execute(f"DROP TABLE IF EXISTS {table}")
            STAGE.drop(cursor)
        if preview:
            transaction.set_rollback(True)
        else:
            done = f"{result.summary}; from {when.isoformat()} ({mode})"
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


def _checked(
    file: Iterable[str], errors: _Errors, when: datetime.datetime, now: datetime.datetime
) -> Iterator[tuple[Any, ...]]:
    """(line, prefix, rate, connect_fee, initial, next, description, starts, closes) of each
    good record (starts: the line's own date, as the database takes it; None: the file's
    date `when`; closes: a `removed` line, without a rate); the bad ones into `errors`."""
    cleaner = _Cleaner(Rate)
    adapt = connection.ops.adapt_datetimefield_value
    records = _records(file, FILE_COLUMNS, REQUIRED, errors, extra_cells_hint=_SPLIT_HINT)
    for line, row in records:
        ok = True
        prefix = row["prefix"]
        if prefix.startswith("+"):
            prefix = prefix[1:]
        if not _PREFIX_RE.fullmatch(prefix):
            ok = _field(cleaner, errors, line, "prefix", prefix) is not None and ok
        change = row.get("change", "").lower()
        closes = change in CLOSING
        if not closes and change not in SAID:
            errors.add(line, "change", _change_error(row["change"]))
            ok = False
        if closes:  # the rate and terms a closing line may still show are not used
            rate, fee, first, then, description = None, None, None, None, ""
        else:
            rate = _decimal(cleaner, errors, line, "rate", row["rate"], required=True)
            fee = _decimal(cleaner, errors, line, "connect_fee", row.get("connect_fee", ""))
            first = _seconds(
                cleaner, errors, line, "initial_increment", row.get("initial_increment")
            )
            then = _seconds(cleaner, errors, line, "next_increment", row.get("next_increment"))
            description = row.get("description", "")
            if len(description) > 200:
                ok = _field(cleaner, errors, line, "description", description) is not None and ok
            ok = rate is not None and fee is not None and bool(first and then) and ok
        starts = None
        if row.get("effective_from"):
            starts = _line_date(errors, line, row["effective_from"], when, now)
            ok = starts is not None and ok
            if starts == when:
                starts = None
        if ok:
            yield line, prefix, rate, fee, first, then, description, adapt(starts), closes


def _change_error(raw: str) -> str:
    words = ", ".join(sorted((SAID | CLOSING) - {""}))
    return (
        f"“{raw}” is not a change this import knows: write removed (or closed) to close "
        f"the prefix, or leave the cell empty (also accepted, not used: {words})."
    )


def _line_date(
    errors: _Errors, line: int, raw: str, when: datetime.datetime, now: datetime.datetime
) -> datetime.datetime | None:
    """A line's own date, or None with the reason in `errors`: not a date, in the past,
    or before the file's date."""
    value = parse_moment(raw)
    if value is None:
        errors.add(
            line,
            "effective_from",
            f"“{raw}” is not a date: write an ISO 8601 date (2026-12-01, its midnight) or "
            "date-time (2026-12-01T06:00+00:00), or leave the cell empty for the file's date.",
        )
        return None
    if value < now - datetime.timedelta(seconds=1):
        errors.add(
            line,
            "effective_from",
            f"{value.isoformat()} is in the past: the rates of calls already made would "
            "change. Give a later date, or leave the cell empty for the file's date.",
        )
        return None
    if value < when:
        errors.add(
            line,
            "effective_from",
            f"{value.isoformat()} is before the file's effective date {when.isoformat()}: "
            "the file is the deck from that date on. Give a date at or after it, or import "
            "this line in a file of its own with that effective date.",
        )
        return None
    return value


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
#
# Each prefix of the file has its moment: its line's own date, else the file's. A removed
# prefix (a full import: in effect at the file's date, not in the file) has the file's.

_TABLE = Rate._meta.db_table


def _db(value: datetime.datetime) -> Any:
    """A moment as the database compares it with the rates' dates (SQLite: the text the
    ORM writes, naive UTC; PostgreSQL: the value)."""
    return connection.ops.adapt_datetimefield_value(value)


def _compare(cursor: Any, deck_id: int, when: datetime.datetime, *, delta: bool) -> None:
    """c4_rate_current: the deck's rate in effect at each prefix's moment (the latest
    start, as the engine's find_rate), for every prefix of the deck (a delta: of the file);
    c4_rate_diff: each prefix of either with its kind and its moment."""
    at = _db(when)
    if connection.vendor == "postgresql":
        # Statistics for the planner: the rates' may still say "empty" right after a first
        # import of a million (autovacuum has not come by), and the writes below join the
        # rates with the difference: planned on "empty", a nested loop over both.
        cursor.execute(f"ANALYZE {_TABLE}")
    cursor.execute(f"DROP TABLE IF EXISTS {_CURRENT}")
    # A full import looks at every prefix of the deck (the file's at their moment, the
    # others at the file's date: the removed ones); a delta at the file's prefixes only.
    # A full file without line dates (the usual deck) needs no join: every prefix at `when`.
    cursor.execute(f"SELECT 1 FROM {STAGE.table} WHERE starts IS NOT NULL LIMIT 1")  # noqa: S608
    dated = cursor.fetchone() is not None
    if delta or dated:
        join = "JOIN" if delta else "LEFT JOIN"
        source = f"{_TABLE} r {join} {STAGE.table} s ON s.prefix = r.prefix"
        moment = "COALESCE(s.starts, %s)"
    else:
        source, moment = f"{_TABLE} r", "%s"
    cursor.execute(
        f"CREATE TEMPORARY TABLE {_CURRENT} AS SELECT id, prefix, rate, connect_fee, "  # noqa: S608
        "initial_increment, next_increment, description, effective_until FROM ("
        "SELECT r.id, r.prefix, r.rate, r.connect_fee, r.initial_increment, r.next_increment, "
        "r.description, r.effective_until, "
        "row_number() OVER (PARTITION BY r.prefix ORDER BY r.effective_from DESC) AS n "
        f"FROM {source} WHERE r.deck_id = %s AND r.effective_from <= {moment} "
        f"AND (r.effective_until IS NULL OR r.effective_until > {moment})"
        ") AS latest WHERE n = 1",
        [deck_id, at, at],
    )
    if connection.vendor == "postgresql":
        cursor.execute(f"ANALYZE {_CURRENT}")
    same_terms = (
        "s.connect_fee = c.connect_fee AND s.initial_increment = c.initial_increment "
        "AND s.next_increment = c.next_increment AND s.description = c.description"
    )
    # own: the line's own date (NULL: the file's), for the samples; starts: the moment.
    # A closing line: removed (a prefix the deck does not have then: unchanged).
    removed = (
        "UNION ALL SELECT c.prefix, 'removed', c.id, c.rate, NULL, NULL, NULL, %s "  # noqa: S608
        f"FROM {_CURRENT} c WHERE NOT EXISTS "
        f"(SELECT 1 FROM {STAGE.table} s WHERE s.prefix = c.prefix)"
    )
    cursor.execute(f"DROP TABLE IF EXISTS {_DIFF}")
    cursor.execute(
        f"CREATE TEMPORARY TABLE {_DIFF} AS "  # noqa: S608
        "SELECT s.prefix, CASE WHEN s.closes AND c.id IS NULL THEN 'unchanged' "
        "WHEN s.closes THEN 'removed' WHEN c.id IS NULL THEN 'new' "
        "WHEN s.rate > c.rate THEN 'increased' WHEN s.rate < c.rate THEN 'decreased' "
        f"WHEN {same_terms} AND c.effective_until IS NULL THEN 'unchanged' "
        "ELSE 'terms' END AS kind, c.id AS current_id, c.rate AS old_rate, s.rate AS new_rate, "
        "s.line, s.starts AS own, COALESCE(s.starts, %s) AS starts "
        f"FROM {STAGE.table} s LEFT JOIN {_CURRENT} c ON c.prefix = s.prefix "
        + ("" if delta else removed),
        [at] if delta else [at, at],
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
            f"SELECT prefix, old_rate, new_rate, line, own FROM {_DIFF} "  # noqa: S608
            "WHERE kind = %s ORDER BY prefix LIMIT %s",
            [kind, sample_size],
        )
        result.samples[kind] = [
            RateChange(prefix, _shown(old), _shown(new), line, _moment(own))
            for prefix, old, new, line, own in cursor.fetchall()
        ]


def _shown(value: Decimal | float | str | None) -> str | None:
    return None if value is None else plain(str(value))


def _moment(value: datetime.datetime | str | None) -> datetime.datetime | None:
    """A date the database gives back, aware (SQLite: text, naive UTC)."""
    if isinstance(value, str):
        value = parse_datetime(value)
    if value is not None and timezone.is_naive(value):
        value = timezone.make_aware(value, datetime.UTC)
    return value


def _apply(
    cursor: Any,
    deck_id: int,
    when: datetime.datetime,
    write: _Write,
    result: RateImportResult,
    *,
    delta: bool,
) -> None:
    """End, delete and insert (each with its history records), in this order: each line's
    rate starts at its moment, where the ones it replaces end; in a full import the
    prefixes not in the file end at `when`, and their rates starting at or after it go."""
    at, date = _db(when), _db(write.date)
    # Every prefix of the difference but the unchanged ones (the file's, and in a full
    # import the removed ones): its rates in effect at its moment, started before it, end
    # there. A join on the difference (one row per prefix), which PostgreSQL hashes.
    cursor.execute(
        f"UPDATE {_TABLE} SET effective_until = d.starts, updated_at = %s "  # noqa: S608
        f"FROM {_DIFF} d WHERE d.prefix = {_TABLE}.prefix AND d.kind <> 'unchanged' "
        f"AND {_TABLE}.deck_id = %s AND {_TABLE}.effective_from < d.starts "
        f"AND ({_TABLE}.effective_until IS NULL OR {_TABLE}.effective_until > d.starts)",
        [date, deck_id],
    )
    result.ended = cursor.rowcount
    history = _history_select(Rate, write, "~")
    if history is not None and result.ended:
        cursor.execute(
            history[0] + "deck_id = %s AND updated_at = %s AND effective_until IS NOT NULL",
            [*history[1], deck_id, date],
        )
    # The file's prefixes: their rates starting at or after the line's moment are replaced
    # (an unchanged prefix keeps its rate in effect, and loses the later ones). No line
    # starts before `when`: the rates starting before it are left out before the join (most
    # of a deck). EXISTS, not IN: a semi-join PostgreSQL can hash.
    in_file = (
        "deck_id = %s AND effective_from >= %s AND EXISTS (SELECT 1 FROM "  # noqa: S608
        f"{_DIFF} d WHERE d.prefix = {_TABLE}.prefix AND d.line IS NOT NULL "
        f"AND {_TABLE}.effective_from >= d.starts "
        f"AND NOT (d.kind = 'unchanged' AND d.current_id = {_TABLE}.id))"
    )
    doomed = [(in_file, [deck_id, at])]
    if not delta:
        # A full import: the deck's other prefixes' rates starting at or after the file's
        # date go too (the file is the whole deck from then on). NOT EXISTS, not NOT IN: an
        # anti-join PostgreSQL can hash (and spill to disk), where NOT IN over a million
        # prefixes would run its subquery once per row.
        doomed.append(
            (
                "deck_id = %s AND effective_from >= %s AND NOT EXISTS "  # noqa: S608
                f"(SELECT 1 FROM {STAGE.table} s WHERE s.prefix = {_TABLE}.prefix)",
                [deck_id, at],
            )
        )
    history = _history_select(Rate, write, "-")
    for where, params in doomed:
        if history is not None:
            cursor.execute(history[0] + where, [*history[1], *params])
        cursor.execute(f"DELETE FROM {_TABLE} WHERE {where}", params)  # noqa: S608
        result.deleted += cursor.rowcount
    cursor.execute(
        f"INSERT INTO {_TABLE} (deck_id, prefix, rate, connect_fee, initial_increment, "  # noqa: S608
        "next_increment, effective_from, effective_until, description, created_at, updated_at) "
        "SELECT %s, s.prefix, s.rate, s.connect_fee, s.initial_increment, s.next_increment, "
        f"COALESCE(s.starts, %s), NULL, s.description, %s, %s FROM {STAGE.table} s "
        f"WHERE NOT s.closes AND NOT EXISTS (SELECT 1 FROM {_DIFF} d WHERE d.kind = 'unchanged' "
        "AND d.prefix = s.prefix)",
        [deck_id, at, date, date],
    )
    result.created = cursor.rowcount
    history = _history_select(Rate, write, "+")
    if history is not None and result.created:
        cursor.execute(
            history[0] + "deck_id = %s AND created_at = %s", [*history[1], deck_id, date]
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
    "DELTA",
    "FILE_COLUMNS",
    "FULL",
    "KINDS",
    "KIND_LABELS",
    "RATES_COMMAND",
    "RateChange",
    "RateImportResult",
    "effective_date_error",
    "import_rates",
    "parse_moment",
    "rates_exporter",
]
