"""CSV import and export of route rules and DIDs: all or nothing, fast, audited.

Services without HTTP: the manage.py commands, the API's upload endpoints and the admin call
these functions.

Route rules, one rule per line (header line required; columns in any order, only `prefix`
is required; a missing or empty cell takes the model's default):

    tenant,name,prefix,caller_prefix,priority,enabled,weekdays,start_time,end_time,timezone,
    targets,action,reject_code,reject_reason,caller_id,from_display,extra_headers,description,
    mode,band_percent

- tenant: the tenant's name; empty for a global rule.
- enabled: true/false (also yes/no, 1/0); empty is true.
- start_time, end_time: HH:MM (or HH:MM:SS), both or neither.
- action: route (the default: the calls go to the targets, at least one) or reject (the
  calls are refused with reject_code, 400-699, and reject_reason, e.g. 403 and Forbidden;
  no targets).
- mode: priority (the default), lcr or lcr_band (least-cost: see the README); band_percent
  only for lcr_band (e.g. 5).
- targets: the failover list, items separated by ';', each
      carrier:CARRIER[@ORDER[/WEIGHT]]            a whole carrier (its gateways)
      gateway:CARRIER/GATEWAY[@ORDER[/WEIGHT]]    one gateway of a carrier
  e.g. "carrier:Alpha Telecom@0/100;gateway:Beta Voice/beta-1@1/100". ORDER (0-99, lower is
  tried first, equal orders share calls by WEIGHT 1-1000) defaults to the item's position in
  the list (0, 1, 2...), WEIGHT to 100. A backslash escapes a ';', '@', '/' or '\\' that is
  part of a name ("carrier:A\\/B" is the carrier "A/B"). Export writes every ORDER/WEIGHT.
- extra_headers: header lines separated by newlines (quoted in the CSV, as any CSV writer
  does for a cell with a newline).

DIDs, one number, range or prefix per line (tenant, number and pbx required):

    tenant,number,match,range_end,pbx,description,enabled

- match: exact (the default), range or prefix; range_end only for a range.
- pbx: the PBX's name within the tenant.

Number list entries, one exact number, prefix or range per line (list and number
required):

    list,number,match,range_end,comment

- list: the number list's name (the list itself is made in the admin or the API).
- match: exact (the default), prefix or range; range_end only for a range.
- comment: free text, kept (and exported back).

Modes:
- "add": every line is new; a line that duplicates an existing row (or another line) fails.
  A duplicate rule is one with the same scope (tenant or global), prefix, caller prefix,
  time window (weekdays, start, end, time zone) and priority, i.e. one the router could not
  tell apart; a duplicate DID has the same number and match; a duplicate list entry the
  same list, number and match.
- "replace": first delete the existing rows the file redefines: the rules of the same
  scope with a destination prefix the file has, the DIDs with the same number and match.
  Re-importing a carrier's prefix list this way replaces it. (List entries: those of the
  same list, number and match.)
- "replace-scope": first delete every rule (every DID) of each scope the file names (each
  tenant, and "global" for rules with an empty tenant). The file becomes the whole table of
  those scopes. For number list entries, the scope is the list: every entry of each list
  the file names is deleted first.

All or nothing: the whole import is one transaction; any bad line and nothing is written.
Errors name the line (the header is line 1; a record spanning several lines is named by its
first) and the field, with the model validator's own message. Up to MAX_ERRORS are reported.

Cells: no control character but tabs and line breaks (a NUL, an ESC...: an error naming the
line and the column). A cell that starts with a quote followed by = + - @ (or more quotes
and one of those) loses its first quote: exports write cells a spreadsheet would run as a
formula that way (OWASP's advice against CSV injection), so an exported file imports back
unchanged; "'=1+1" imports as "=1+1", "'plain" as "'plain".

Size and memory: the API and the admin refuse a file over C4ROUTER_IMPORT_MAX_BYTES (the
commands read files of any size). Records are read and checked one at a time; the checked
rows wait for the write in a temporary file, so an import keeps about 300 bytes per row in
memory (its key for the duplicate checks, its id), not the rows (2.4 KB per row before).

Exports (Exporter: the commands, the API's and the admin's downloads) read the rows a batch
at a time and write them a batch at a time: memory stays flat whatever the table's size.

Speed: rows are validated in Python with the models' field validators and clean() (no query
per row: names are resolved from dictionaries loaded once, repeated cells are validated once),
then written in bulk: on PostgreSQL with COPY (ids reserved from the sequence in one query),
elsewhere with django-simple-history's bulk_create_with_history. Every row written or deleted
gets its history record, as a save or delete would (user, date, change reason): on
PostgreSQL by COPY too, deletions by INSERT ... SELECT in SQL. That doubles the rows written
(bench/import_bench.py measures the cost: 2-9 s of 11-17 s for 100,000 rules on a busy
2-core machine), which buys the audit trail the admin shows. Signals are skipped, so the
routing version is bumped here, once, and first: its row lock serializes concurrent imports
and admin saves until the import commits.
"""

from __future__ import annotations

import csv
import datetime
import difflib
import io
import itertools
import pickle
import re
import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from operator import itemgetter
from typing import IO, Any, TypeVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, models, transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from routing.did_overlaps import DidIndex, DidSpan, error_field
from routing.did_overlaps import message as overlap_message
from routing.models import (
    Carrier,
    Changes,
    Did,
    DidMatch,
    EntryMatch,
    Gateway,
    NumberList,
    NumberListEntry,
    Pbx,
    RouteRule,
    RouteTarget,
    RuleAction,
    Tenant,
    bump_routing_version,
    record_changes,
)
from routing.models.lists import entry_errors
from routing.validators import (
    PREFIX_MAX_LENGTH,
    TEXT_CONTROL_RE,
    validate_no_control_characters,
)

ADD = "add"
REPLACE = "replace"
REPLACE_SCOPE = "replace-scope"
MODES = (ADD, REPLACE, REPLACE_SCOPE)

ROUTE_COLUMNS = (
    "tenant",
    "name",
    "prefix",
    "caller_prefix",
    "priority",
    "enabled",
    "weekdays",
    "start_time",
    "end_time",
    "timezone",
    "targets",
    "action",
    "reject_code",
    "reject_reason",
    "caller_id",
    "from_display",
    "extra_headers",
    "description",
    "mode",
    "band_percent",
)
ROUTE_REQUIRED = ("prefix",)
DID_COLUMNS = ("tenant", "number", "match", "range_end", "pbx", "description", "enabled")
DID_REQUIRED = ("tenant", "number", "pbx")
LIST_ENTRY_COLUMNS = ("list", "number", "match", "range_end", "comment")
LIST_ENTRY_REQUIRED = ("list", "number")

MAX_ERRORS = 50
BATCH_SIZE = 2000
# Rows per query when looking up existing rows by prefix or number.
LOOKUP_CHUNK = 5000
# DID ranges and prefixes per query for the numbers of other tenants inside them.
OVERLAP_CHUNK = 1000
# Distinct raw values remembered per column: repeated cells (a time zone, a priority, a
# target list) are validated once; unique ones (prefixes) are not worth remembering.
CACHE_LIMIT = 4096

TRUE_WORDS = frozenset({"true", "t", "yes", "y", "1"})
FALSE_WORDS = frozenset({"false", "f", "no", "n", "0"})

T = TypeVar("T")
M = TypeVar("M", bound=models.Model)
# tqdm-like: progress(iterable, total=..., desc=..., unit=...) -> the same items.
Progress = Callable[..., Iterable[Any]]


@dataclass(frozen=True, slots=True)
class RowError:
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"Line {self.line}, {self.field}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class ImportFailed(Exception):
    """The file was refused; nothing was written. `errors` says where and why."""

    def __init__(self, errors: Sequence[RowError], truncated: bool = False) -> None:
        self.errors = list(errors)
        self.truncated = truncated
        super().__init__(str(self))

    @property
    def summary(self) -> str:
        count = f"{len(self.errors)}{'+' if self.truncated else ''}"
        noun = "error" if len(self.errors) == 1 and not self.truncated else "errors"
        return f"{count} {noun} in the file; nothing was imported."

    def __str__(self) -> str:
        lines = [self.summary, *(str(error) for error in self.errors)]
        if self.truncated:
            lines.append(f"(only the first {len(self.errors)} errors are shown)")
        return "\n".join(lines)


def upload_size_error(
    size: int, command: str = "manage.py import_routes or import_dids"
) -> str | None:
    """Why an uploaded file of `size` bytes is refused (over C4ROUTER_IMPORT_MAX_BYTES), or
    None. The API and the admin ask before reading the file; the commands read files of any
    size (an operator's own), in bounded memory as well."""
    limit = settings.C4ROUTER["IMPORT_MAX_BYTES"]
    if size <= limit:
        return None
    return (
        f"The file is {size:,} bytes; an upload takes at most {limit:,} "
        f"(C4ROUTER_IMPORT_MAX_BYTES). Split it, or import it with {command}."
    )


@dataclass(slots=True)
class ImportResult:
    created: int = 0
    targets_created: int = 0
    deleted: int = 0
    dry_run: bool = False
    # Capacity limits (routing.imports_limits): objects whose limits changed / were the same.
    updated: int = 0
    unchanged: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Errors:
    """Collects row errors up to MAX_ERRORS."""

    def __init__(self) -> None:
        self.items: list[RowError] = []
        self.truncated = False

    def add(self, line: int, field_name: str, message: str) -> None:
        if len(self.items) >= MAX_ERRORS:
            self.truncated = True
            return
        self.items.append(RowError(line, field_name, message))

    def add_validation(self, line: int, exc: ValidationError, default_field: str) -> None:
        if hasattr(exc, "error_dict"):
            for name, messages in exc.message_dict.items():
                target = default_field if name == "__all__" else name
                for message in messages:
                    self.add(line, target, message)
        else:
            for message in exc.messages:
                self.add(line, default_field, message)

    def raise_if_any(self) -> None:
        if self.items:
            # By line: checks against the database find them in the database's order.
            raise ImportFailed(sorted(self.items, key=lambda e: e.line), self.truncated)

    def __bool__(self) -> bool:
        return bool(self.items)


def _no_progress(iterable: Iterable[T], **kwargs: Any) -> Iterable[T]:
    return iterable


# --- The CSV gate: every cell in and out ------------------------------------------------------
#
# Every import reads its file through _records() and every export writes through Exporter:
# one place each for what a cell may hold on the way in and how it is written on the way out.

# A spreadsheet runs a cell that starts with one of these as a formula (OWASP "CSV
# injection": `=HYPERLINK(...)`, `@SUM(...)`, `+cmd|...`).
FORMULA_STARTS = frozenset("=+-@\t\r")


def neutralise_formula(cell: str) -> str:
    """A cell as an export writes it: one a spreadsheet would run as a formula gets a
    leading "'", which spreadsheets show as text and import_*() takes off again.

    Applied to every cell of every export: only free-text columns (names, display names,
    descriptions, extra headers) can start with = + - @; prefixes, numbers, caller ids
    (digits), times, time zones and target lists ("carrier:..."/"gateway:...") cannot, so
    they come out unchanged. A value that itself starts with quotes before such a character
    gets one more, so that the import gives back exactly what was exported.
    """
    first = cell[:1]
    if first in FORMULA_STARTS or (first == "'" and cell.lstrip("'")[:1] in FORMULA_STARTS):
        return "'" + cell
    return cell


def restore_formula(cell: str) -> str:
    """The inverse of neutralise_formula(), for a cell read by an import."""
    if cell[:1] == "'" and cell.lstrip("'")[:1] in FORMULA_STARTS:
        return cell[1:]
    return cell


def _records(
    file: Iterable[str],
    columns: Sequence[str],
    required: Sequence[str],
    errors: _Errors,
    extra_cells_hint: str = "",
) -> Iterator[tuple[int, dict[str, str]]]:
    """The file's records, read one at a time, as (first line number, column -> cell).

    Cells are stripped and lose the quote an export put before a formula character. A
    record with a control character is reported (line and column) and skipped. Problems
    with the file itself (header, cell count, not CSV, not UTF-8) are reported and end the
    reading; `extra_cells_hint` follows the message of a record with more cells than the
    header (a rate deck: an unquoted decimal comma). Nothing is kept: the caller checks
    each record as it comes.
    """
    lines = iter(file)
    reader = csv.reader(())
    try:
        first = next(lines, None)
        # A spreadsheet set to a language whose decimal mark is a comma saves "CSV" with
        # semicolons between the columns: a header without commas but with semicolons says
        # so (a target list inside such a file is quoted, as any CSV writer quotes a cell
        # holding the separator).
        delimiter = ";" if first is not None and "," not in first and ";" in first else ","
        reader = csv.reader(itertools.chain([first] if first is not None else [], lines),
                            delimiter=delimiter)  # fmt: skip
        header = next(reader, None)
        if header is None:
            errors.add(1, "file", "The file is empty: expected a header line.")
            return
        names = [name.strip().lower() for name in header]
        unknown = [name for name in names if name not in columns]
        missing = [name for name in required if name not in names]
        for name in unknown:
            if ";" in name:  # a semicolon-separated header with a comma somewhere
                errors.add(
                    1,
                    "file",
                    "The columns look separated by ';': separate them with ',' (save as "
                    "'CSV UTF-8, comma-separated'), or use ';' everywhere in the header.",
                )
                continue
            errors.add(1, name, f"Unknown column: use {', '.join(columns)}.")
        for name in missing:
            errors.add(1, name, "This column is required.")
        if len(set(names)) != len(names):
            errors.add(1, "file", "A column appears twice in the header.")
        if errors:
            return
        line = reader.line_num + 1
        for record in reader:
            start, line = line, reader.line_num + 1
            if not record or (len(record) == 1 and not record[0].strip()):
                continue  # blank lines are allowed anywhere (",," is a row of empty cells)
            if len(record) != len(names):
                message = f"Expected {len(names)} cells as in the header, found {len(record)}."
                if extra_cells_hint and len(record) > len(names):
                    message += f" {extra_cells_hint}"
                errors.add(start, "file", message)
                return
            # No NUL or other control character (validators.TEXT_CONTROL_RE): one search
            # per record; the cells are looked at one by one only when it finds one.
            if TEXT_CONTROL_RE.search("".join(record)):
                for name, cell in zip(names, record, strict=True):
                    try:
                        validate_no_control_characters(cell)
                    except ValidationError as exc:
                        errors.add_validation(start, exc, name)
                continue
            yield (
                start,
                {
                    name: restore_formula(cell.strip()) if "'" in cell else cell.strip()
                    for name, cell in zip(names, record, strict=True)
                },
            )
    except UnicodeDecodeError:
        errors.add(reader.line_num + 1, "file", "The file is not UTF-8 text.")
    except csv.Error as exc:
        errors.add(reader.line_num, "file", f"Not a valid CSV file: {exc}.")


class _Cleaner:
    """Runs a model field's own clean() (to_python, blank check, validators) on raw cells.

    Same code and messages as the model's full_clean(), without touching the database.
    """

    def __init__(self, model: type[models.Model]) -> None:
        self.model = model
        self.cache: dict[str, dict[str, Any]] = defaultdict(dict)

    def __call__(self, name: str, raw: str, default: Any = None) -> Any:
        cache = self.cache[name]
        try:
            return cache[raw]
        except KeyError:
            pass
        model_field = self.model._meta.get_field(name)
        if raw == "" and default is not None:
            value = default
        elif raw == "" and model_field.null:
            value = None
        elif isinstance(model_field, models.BooleanField):
            word = raw.lower()
            value = True if word in TRUE_WORDS else False if word in FALSE_WORDS else raw
        else:
            value = raw
        value = model_field.clean(value, None)
        if len(cache) < CACHE_LIMIT:
            cache[raw] = value
        return value


def _clean_columns(
    cleaner: _Cleaner,
    line: int,
    row: dict[str, str],
    names: Iterable[str],
    errors: _Errors,
    defaults: dict[str, Any],
) -> dict[str, Any] | None:
    values: dict[str, Any] = {}
    ok = True
    caches = cleaner.cache
    for name in names:
        raw = row.get(name, "")
        cache = caches[name]
        if raw in cache:  # the common case, inlined: most cells repeat
            values[name] = cache[raw]
            continue
        try:
            values[name] = cleaner(name, raw, defaults.get(name))
        except ValidationError as exc:
            errors.add_validation(line, exc, name)
            ok = False
    return values if ok else None


def _field_default(model: type[models.Model], name: str) -> Any:
    model_field = model._meta.get_field(name)
    return model_field.get_default() if model_field.has_default() else None


# --- Targets ----------------------------------------------------------------------------------


def _split(text: str, separator: str) -> list[str]:
    """Split on `separator` where it is not escaped by a backslash (escapes are kept)."""
    if "\\" not in text:
        return text.split(separator)
    parts, current, i = [], [], 0
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            current.append(text[i : i + 2])
            i += 2
            continue
        if char == separator:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
        i += 1
    parts.append("".join(current))
    return parts


_ESCAPED = re.compile(r"\\(.)")
_TO_ESCAPE = re.compile(r"([\\;@/])")


def _unescape(text: str) -> str:
    return _ESCAPED.sub(r"\1", text).strip() if "\\" in text else text.strip()


def escape_name(name: str) -> str:
    """A carrier or gateway name as written in a targets cell."""
    return _TO_ESCAPE.sub(r"\\\1", name)


@dataclass(frozen=True, slots=True)
class _Target:
    carrier_id: int | None
    gateway_id: int | None
    order: int
    weight: int


class _TargetResolver:
    """Turns a targets cell into target specs, with names resolved from one query each."""

    def __init__(self) -> None:
        self.carriers = dict(Carrier.objects.values_list("name", "id"))
        # As an operator types them: "alpha telecom" is "Alpha Telecom" when only one carrier
        # has that name in any case.
        self.folded: dict[str, list[str]] = defaultdict(list)
        for name in self.carriers:
            self.folded[name.casefold()].append(name)
        self.gateways = {
            (carrier, name): pk
            for carrier, name, pk in Gateway.objects.values_list("carrier__name", "name", "id")
        }
        self.order_field = RouteTarget._meta.get_field("order")
        self.weight_field = RouteTarget._meta.get_field("weight")
        self.default_weight = _field_default(RouteTarget, "weight")
        self.cache: dict[str, tuple[_Target, ...] | list[str]] = {}

    def __call__(self, text: str) -> tuple[tuple[_Target, ...], list[str]]:
        """(targets, error messages) for one cell."""
        cached = self.cache.get(text)
        if cached is None:
            try:
                cached = self._parse(text)
            except ValidationError as exc:
                cached = list(exc.messages)
            if len(self.cache) < CACHE_LIMIT:
                self.cache[text] = cached
        if isinstance(cached, list):
            return (), cached
        return cached, []

    def _parse(self, text: str) -> tuple[_Target, ...]:
        if not text:
            return ()
        targets: list[_Target] = []
        messages: list[str] = []
        seen: set[tuple[int | None, int | None]] = set()
        for position, item in enumerate(_split(text, ";")):
            if not item.strip():
                continue
            try:
                target = self._parse_item(item.strip(), position)
            except ValidationError as exc:
                messages += [f"'{item.strip()}': {message}" for message in exc.messages]
                continue
            key = (target.carrier_id, target.gateway_id)
            if key in seen:
                messages.append(f"'{item.strip()}': this target appears twice in the list.")
            seen.add(key)
            targets.append(target)
        if messages:
            raise ValidationError(messages)
        return tuple(targets)

    def _parse_item(self, item: str, position: int) -> _Target:
        parts = _split(item, "@")
        if len(parts) > 2:
            raise ValidationError("write a '@' in a name as '\\@'.")
        destination, numbers = parts[0], parts[1] if len(parts) == 2 else ""
        kind, colon, name = destination.partition(":")
        kind = kind.strip().lower()
        if not colon or kind not in ("carrier", "gateway"):
            raise ValidationError(
                "start each target with 'carrier:' or 'gateway:' "
                "(e.g. carrier:Alpha Telecom@0/100 or gateway:Alpha Telecom/alpha-1@1)."
            )
        carrier_id = gateway_id = None
        if kind == "carrier":
            carrier_id = self.carriers[self._carrier_name(_unescape(name))]
        else:
            names = _split(name, "/")
            if len(names) != 2:
                raise ValidationError(
                    "name a gateway as CARRIER/GATEWAY (write a '/' in a name as '\\/')."
                )
            carrier_name = self._carrier_name(_unescape(names[0]))
            gateway_name = _unescape(names[1])
            gateway_id = self.gateways.get((carrier_name, gateway_name))
            if gateway_id is None:
                raise ValidationError(
                    f"carrier '{carrier_name}' has no gateway named '{gateway_name}'."
                )
        order_text, _, weight_text = numbers.partition("/")
        order = self._number(self.order_field, order_text.strip(), position, "order")
        weight = self._number(self.weight_field, weight_text.strip(), self.default_weight, "weight")
        return _Target(carrier_id, gateway_id, order, weight)

    def _carrier_name(self, name: str) -> str:
        """The carrier's name as stored: the name itself, or the one carrier whose name
        differs only in case; else an error with the closest names."""
        if name in self.carriers:
            return name
        same = self.folded.get(name.casefold(), [])
        if len(same) == 1:
            return same[0]
        close = sorted(same) or [
            self.folded[folded][0]
            for folded in difflib.get_close_matches(name.casefold(), self.folded, n=3)
        ]
        hint = f": did you mean {' or '.join(repr(c) for c in close)}?" if close else "."
        raise ValidationError(f"there is no carrier named '{name}'{hint}")

    @staticmethod
    def _number(model_field: models.Field, text: str, default: int, label: str) -> int:
        if not text:
            return default
        try:
            return int(model_field.clean(text, None))
        except ValidationError as exc:
            raise ValidationError([f"{label}: {m}" for m in exc.messages]) from None


# --- Writing ---------------------------------------------------------------------------------


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Lists of `size` items (the last one shorter) from any iterable."""
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


class _Spool:
    """Checked rows waiting for the write, in a temporary file rather than in memory.

    An import checks every row before it writes any (all or nothing), so the checked rows
    must wait somewhere: in lists, with the rows as read, they cost 2.4 KB per line of the
    file (100,000 rules, tracemalloc), every line at once. Here they are pickled by batches
    of BATCH_SIZE into an unnamed temporary file and read back, a batch at a time, by the
    write (once per table it fills): what an import keeps in memory per row is its key (for
    the duplicate checks) and its id, about 300 bytes.
    """

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close()
        self._batch: list[Any] = []
        self.count = 0

    def append(self, item: Any) -> None:
        self._batch.append(item)
        self.count += 1
        if len(self._batch) >= BATCH_SIZE:
            self._flush()

    def _flush(self) -> None:
        if self._batch:
            pickle.dump(self._batch, self._file, protocol=pickle.HIGHEST_PROTOCOL)
            self._batch = []

    def __iter__(self) -> Iterator[Any]:
        """Every row, in order (one reader at a time: readers share the file's position)."""
        self._flush()
        self._file.seek(0)
        while True:
            try:
                # Our own file, written above in this process: nothing foreign is unpickled.
                batch = pickle.load(self._file)  # noqa: S301
            except EOFError:
                return
            yield from batch

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> _Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Mapped:
    """`function` over the items of a re-iterable (a _Spool), re-iterable itself."""

    def __init__(self, items: Iterable[Any], function: Callable[[Any], Any]) -> None:
        self.items = items
        self.function = function

    def __iter__(self) -> Iterator[Any]:
        return map(self.function, self.items)


def _history_user(user: Any) -> Any:
    return user if user is not None and getattr(user, "is_authenticated", False) else None


@dataclass(frozen=True, slots=True)
class _Write:
    """Who, why and when, for the history records of one import; and its progress bar."""

    user: Any
    reason: str
    date: datetime.datetime
    progress: Progress

    @property
    def history(self) -> bool:
        # django-simple-history's own switch, honoured as its bulk functions do.
        return getattr(settings, "SIMPLE_HISTORY_ENABLED", True)


def _columns(model: type[models.Model]) -> list[str]:
    """The columns an insert gives values for, in order: every concrete field but the key."""
    return [f.attname for f in model._meta.concrete_fields if not f.primary_key]


def _instance(model: type[M], row: tuple[Any, ...]) -> M:
    """An unsaved instance from a row of _columns() values, through Model.__init__'s
    positional fast path (concrete fields in order, the key first)."""
    return model(None, *row)


def _insert(
    model: type[models.Model],
    rows: Iterable[tuple[Any, ...]],
    count: int,
    write: _Write,
    desc: str,
) -> list[int]:
    """Insert `count` rows (values in _columns() order) with a "+" history record each;
    their ids, in the rows' order.

    `rows` is read twice on PostgreSQL (the rows, then their history): a list or a _Spool,
    read a batch at a time. PostgreSQL: COPY, with ids reserved from the table's sequence in
    one query: several times faster than bulk_create, whose per-value Python work dominates
    at 100,000 rows. Other databases: django-simple-history's bulk_create_with_history, a
    batch at a time.
    """
    if not count:
        return []
    if connection.vendor == "postgresql":
        return _copy_insert(model, rows, count, write, desc)
    ids: list[int] = []
    total = (count + BATCH_SIZE - 1) // BATCH_SIZE
    batches = write.progress(_batched(rows, BATCH_SIZE), total=total, desc=desc, unit="batch")
    for batch in batches:
        objs = [_instance(model, row) for row in batch]
        if write.history:
            bulk_create_with_history(
                objs,
                model,
                batch_size=BATCH_SIZE,
                default_user=write.user,
                default_change_reason=write.reason,
                default_date=write.date,
            )
        else:
            model._base_manager.bulk_create(objs, batch_size=BATCH_SIZE)
        ids += [obj.pk for obj in objs]
    return ids


def _copy(
    cursor: Any,
    table: str,
    columns: Sequence[str],
    rows: Iterable[tuple[Any, ...]],
    count: int,
    write: _Write,
    desc: str,
) -> None:
    quote = connection.ops.quote_name
    statement = f"COPY {quote(table)} ({', '.join(quote(c) for c in columns)}) FROM STDIN"
    total = (count + BATCH_SIZE - 1) // BATCH_SIZE
    # cursor.cursor: psycopg's own cursor under Django's wrapper, for its COPY support.
    with cursor.cursor.copy(statement) as copy:
        for batch in write.progress(
            _batched(rows, BATCH_SIZE), total=total, desc=desc, unit="batch"
        ):
            for row in batch:
                copy.write_row(row)


def _copy_insert(
    model: type[models.Model],
    rows: Iterable[tuple[Any, ...]],
    count: int,
    write: _Write,
    desc: str,
) -> list[int]:
    meta = model._meta
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [meta.db_table, meta.pk.column, count],
        )
        ids = sorted(row[0] for row in cursor.fetchall())

        def with_ids() -> Iterator[tuple[Any, ...]]:
            return ((pk, *row) for pk, row in zip(ids, rows, strict=True))

        columns = [meta.pk.attname, *_columns(model)]
        _copy(cursor, meta.db_table, columns, with_ids(), count, write, desc)
        if write.history:
            _copy_history(cursor, model, "+", columns, with_ids(), count, write, f"{desc} history")
    return ids


def _history_rows(
    model: type[models.Model],
    history_type: str,
    columns: Sequence[str],
    rows: Iterable[tuple[Any, ...]],
    write: _Write,
) -> tuple[list[str], Iterator[tuple[Any, ...]]]:
    """Rows for the model's historical table, as simple-history would write them."""
    history_model = model.history.model  # type: ignore[attr-defined]
    tracked = {f.attname for f in history_model.tracked_fields}
    picked = [n for n, column in enumerate(columns) if column in tracked]
    extra = ["history_date", "history_change_reason", "history_type", "history_user_id"]
    history_columns = [columns[n] for n in picked] + extra
    expected = {f.attname for f in history_model._meta.concrete_fields} - {"history_id"}
    if set(history_columns) != expected:  # pragma: no cover - a new history field
        raise RuntimeError(f"{history_model.__name__}: unexpected columns {expected}")
    user_id = write.user.pk if write.user is not None else None
    tail = (write.date, write.reason, history_type, user_id)
    return history_columns, (tuple(row[n] for n in picked) + tail for row in rows)


def _copy_history(
    cursor: Any,
    model: type[models.Model],
    history_type: str,
    columns: Sequence[str],
    rows: Iterable[tuple[Any, ...]],
    count: int,
    write: _Write,
    desc: str,
) -> None:
    history_columns, history_rows = _history_rows(model, history_type, columns, rows, write)
    table = model.history.model._meta.db_table  # type: ignore[attr-defined]
    _copy(cursor, table, history_columns, history_rows, count, write, desc)


def _history_select(
    model: type[models.Model], write: _Write, history_type: str
) -> tuple[str, list[Any]] | None:
    """ "INSERT INTO <model's history> (...) SELECT ..., %s, %s, %s, %s FROM <table> WHERE "
    and its four parameters: a history record (who, why, when, +/~/-) for each row the
    caller's WHERE picks, as the row is then, written in SQL (the rows never travel to
    Python and back). None when django-simple-history is switched off."""
    if not write.history:
        return None
    quote = connection.ops.quote_name
    history_model = model.history.model  # type: ignore[attr-defined]
    copied = [f.column for f in history_model.tracked_fields]
    extra = ["history_date", "history_change_reason", "history_type", "history_user_id"]
    expected = {f.column for f in history_model._meta.concrete_fields} - {"history_id"}
    if set(copied + extra) != expected:  # pragma: no cover - a new history field
        raise RuntimeError(f"{history_model.__name__}: unexpected columns {expected}")
    copy_columns = [quote(c) for c in copied]
    # Names from the models' meta, quoted; every value is a parameter.
    history_table = quote(history_model._meta.db_table)
    all_columns = ", ".join(copy_columns + [quote(c) for c in extra])
    insert = (
        f"INSERT INTO {history_table} ({all_columns}) "  # noqa: S608
        f"SELECT {', '.join(copy_columns)}, %s, %s, %s, %s "
        f"FROM {quote(model._meta.db_table)} WHERE "
    )
    user_id = write.user.pk if write.user is not None else None
    date = connection.ops.adapt_datetimefield_value(write.date)
    return insert, [date, write.reason, history_type, user_id]


def _delete(model: type[models.Model], column: str, keys: Iterable[Any], write: _Write) -> int:
    """Delete the rows whose `column` is one of `keys`, with a "-" history record each.

    In SQL (INSERT INTO history ... SELECT, then DELETE), by chunks: the rows never travel to
    Python and back. Row-by-row delete() would send signals and run queries per row; the
    caller bumps the routing version. Children must have been deleted first.
    """
    keys = list(keys)
    if not keys:
        return 0
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    history = _history_select(model, write, "-")
    deleted = 0
    with connection.cursor() as cursor:
        for batch in _chunks(keys, LOOKUP_CHUNK):
            where = f"{quote(column)} IN ({', '.join(['%s'] * len(batch))})"
            if history is not None:
                cursor.execute(history[0] + where, [*history[1], *batch])
            cursor.execute(f"DELETE FROM {table} WHERE {where}", list(batch))  # noqa: S608
            deleted += cursor.rowcount
    return deleted


# --- Staging: imports by difference (rate decks, ported numbers) ------------------------------
#
# An import that replaces a large set (a carrier's deck of a million prefixes, the national
# portability database) does not hold it in Python: each checked row goes by COPY into a
# temporary table, and SQL compares it with the live rows (new, changed, removed) and applies
# the difference in a few statements. A kind of data describes its temporary table with a
# Stage: its columns and the key a file may hold once.


@dataclass(frozen=True, slots=True)
class Stage:
    """A temporary table for one import's checked rows (the line number first)."""

    table: str
    columns: tuple[tuple[str, str], ...]  # (name, SQL type), after "line bigint"
    key: str  # the column a file may hold once (duplicates are named by line)

    @property
    def names(self) -> list[str]:
        return ["line", *(name for name, _ in self.columns)]

    def create(self, cursor: Any) -> None:
        columns = ", ".join(f"{name} {sql}" for name, sql in self.columns)
        cursor.execute(f"DROP TABLE IF EXISTS {self.table}")
        cursor.execute(f"CREATE TEMPORARY TABLE {self.table} (line bigint, {columns})")

    def fill(self, cursor: Any, rows: Iterable[tuple[Any, ...]], errors: _Errors) -> int:
        """Every row (line first), by COPY on PostgreSQL; the number of rows read. Once a
        row is bad (`errors`), the rest are still read and checked but no longer written:
        the caller raises after."""
        count = 0
        if connection.vendor == "postgresql":
            statement = f"COPY {self.table} ({', '.join(self.names)}) FROM STDIN"
            # cursor.cursor: psycopg's own cursor under Django's wrapper, for COPY.
            with cursor.cursor.copy(statement) as copy:
                for row in rows:
                    count += 1
                    if not errors:
                        copy.write_row(row)
            cursor.execute(f"ANALYZE {self.table}")  # temporary tables have no autovacuum
            return count
        insert = f"INSERT INTO {self.table} VALUES ({', '.join(['%s'] * len(self.names))})"  # noqa: S608
        batch: list[tuple[Any, ...]] = []
        for row in rows:
            count += 1
            if not errors:
                batch.append(row)
            if len(batch) >= BATCH_SIZE:
                cursor.executemany(insert, batch)
                batch = []
        if batch:
            cursor.executemany(insert, batch)
        return count

    def duplicates(self, cursor: Any, errors: _Errors, shown: Callable[[Any], str]) -> None:
        """A key the file holds twice: an error on its second line naming the first."""
        cursor.execute(
            f"SELECT {self.key}, min(line), max(line) FROM {self.table} "  # noqa: S608
            f"GROUP BY {self.key} HAVING count(*) > 1 ORDER BY min(line) LIMIT {MAX_ERRORS}"
        )
        for key, first, again in cursor.fetchall():
            errors.add(again, self.key, f"{shown(key)} is on line {first} already.")

    def drop(self, cursor: Any) -> None:
        cursor.execute(f"DROP TABLE IF EXISTS {self.table}")


def _reason(change_reason: str | None, default: str) -> str:
    return (change_reason or default)[:100]


# --- Route rules ------------------------------------------------------------------------------

_RULE_FIELDS = (
    "name",
    "prefix",
    "caller_prefix",
    "priority",
    "enabled",
    "weekdays",
    "start_time",
    "end_time",
    "timezone",
    "action",
    "reject_code",
    "reject_reason",
    "caller_id",
    "from_display",
    "extra_headers",
    "description",
    "mode",
    "band_percent",
)


NO_TARGETS = (
    "A rule that routes needs at least one target. To refuse these calls on purpose, set "
    "action to reject with a reject_code and reject_reason."
)
TARGETS_OF_A_REJECT = "A rule that rejects its calls (action reject) has no targets."


def _rule_key(tenant_id: int | None, values: dict[str, Any]) -> tuple[Any, ...]:
    """What makes two rules indistinguishable to the router."""
    return (
        tenant_id,
        values["prefix"],
        values["caller_prefix"],
        values["weekdays"],
        values["start_time"],
        values["end_time"],
        values["timezone"],
        values["priority"],
    )


def import_route_rules(
    file: Iterable[str],
    *,
    mode: str = ADD,
    dry_run: bool = False,
    user: Any = None,
    change_reason: str | None = None,
    progress: Progress | None = None,
) -> ImportResult:
    """Import route rules from a CSV text stream (see the module docstring for the format).

    Raises ImportFailed (nothing written) when any line is bad. `progress` is a tqdm-like
    wrapper for long files; `user` and `change_reason` go into the history records.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    wrap = progress or _no_progress
    now = timezone.now()
    write = _Write(
        _history_user(user), _reason(change_reason, "CSV import of route rules"), now, wrap
    )
    errors = _Errors()
    defaults = {name: _field_default(RouteRule, name) for name in _RULE_FIELDS}
    result = ImportResult(dry_run=dry_run)
    with transaction.atomic(), _Spool() as rule_rows, _Spool() as target_rows:
        # First: takes the version row's lock until commit (see the module docstring);
        # what changed is logged at the end.
        version = bump_routing_version(changed=Changes())
        tenants = dict(Tenant.objects.values_list("name", "id"))
        resolve_targets = _TargetResolver()
        clean = _Cleaner(RouteRule)
        rule_columns = _columns(RouteRule)
        # Where each of RouteTarget's columns is in a target spec below.
        target_order = [
            ("rule_id", "order", "carrier_id", "gateway_id", "weight").index(name)
            for name in _columns(RouteTarget)
        ]
        # Rule key -> its line: what this import keeps in memory per row.
        keys: dict[tuple[Any, ...], int] = {}
        records = _records(file, ROUTE_COLUMNS, ROUTE_REQUIRED, errors)
        for line, row in wrap(records, desc="validate", unit="row"):
            tenant_name = row.get("tenant", "")
            tenant_id = None
            if tenant_name:
                tenant_id = tenants.get(tenant_name)
                if tenant_id is None:
                    errors.add(line, "tenant", f"There is no tenant named '{tenant_name}'.")
            values = _clean_columns(clean, line, row, _RULE_FIELDS, errors, defaults)
            targets, target_errors = resolve_targets(row.get("targets", ""))
            for message in target_errors:
                errors.add(line, "targets", message)
            if values is None:
                continue
            values.update(tenant_id=tenant_id, created_at=now, updated_at=now)
            # Positional, in field order: Model.__init__'s fast path; the tuple, less the
            # key, is also the row COPY writes.
            row_values = tuple(values[name] for name in rule_columns)
            try:
                _instance(RouteRule, row_values).clean()
            except ValidationError as exc:
                errors.add_validation(line, exc, "prefix")
                continue
            # A rule routes (at least one target) or rejects (none): nothing in between
            # (said once the line's cells are right: a bad targets cell is its own error).
            if target_errors or (tenant_name and tenant_id is None):
                pass
            elif values["action"] == RuleAction.ROUTE and not targets:
                errors.add(line, "targets", NO_TARGETS)
            elif values["action"] == RuleAction.REJECT and targets:
                errors.add(line, "targets", TARGETS_OF_A_REJECT)
            key = _rule_key(tenant_id, values)
            if key in keys:
                errors.add(
                    line,
                    "prefix",
                    f"Line {keys[key]} already defines a rule with this scope, prefix, caller "
                    "prefix, time window and priority.",
                )
            keys.setdefault(key, line)
            if errors:
                continue  # nothing will be written: only the checks go on
            index = rule_rows.count
            rule_rows.append(row_values)
            for t in targets:  # specs: the rule's index stands for its id, not known yet
                target_rows.append((index, t.order, t.carrier_id, t.gateway_id, t.weight))
        errors.raise_if_any()

        changed = Changes()
        if mode == ADD:
            _check_existing_rules(keys, errors)
            errors.raise_if_any()
        else:
            scopes = {key[0] for key in keys}
            changed.rules = _delete_rules(mode, scopes, {key[:2] for key in keys}, write)
            result.deleted = len(changed.rules)
        del keys

        ids = _insert(RouteRule, rule_rows, rule_rows.count, write, "rules")

        def target_row(spec: tuple[Any, ...]) -> tuple[Any, ...]:
            values = (ids[spec[0]], *spec[1:])
            return tuple(values[n] for n in target_order)

        targets = _Mapped(target_rows, target_row)
        _insert(RouteTarget, targets, target_rows.count, write, "targets")
        result.created, result.targets_created = rule_rows.count, target_rows.count
        # The workers patch their tables with these rows (or rebuild, past PATCH_MAX_ROWS).
        changed.rules += [(rule_id, None, None) for rule_id in ids]
        record_changes(version, changed)
        if dry_run:
            transaction.set_rollback(True)
    return result


def _check_existing_rules(keys: dict[tuple[Any, ...], int], errors: _Errors) -> None:
    prefixes = sorted({key[1] for key in keys})
    for batch in _chunks(prefixes, LOOKUP_CHUNK):
        existing = RouteRule.objects.filter(prefix__in=batch).values_list(
            "name",
            "tenant__name",
            "tenant_id",
            "prefix",
            "caller_prefix",
            "weekdays",
            "start_time",
            "end_time",
            "timezone",
            "priority",
        )
        for name, tenant_name, *key in existing:
            line = keys.get(tuple(key))
            if line is not None:
                scope = f"tenant {tenant_name}" if tenant_name else "global"
                prefix = f"prefix {key[1]}" if key[1] else "the default route (empty prefix)"
                called = f" ('{name}')" if name else ""
                errors.add(
                    line,
                    "prefix",
                    f"A rule{called} already exists for {scope}, {prefix}, with the same "
                    "caller prefix, time window and priority (import with replace to "
                    "redefine it).",
                )


def _delete_rules(
    mode: str, scopes: set[int | None], prefixes: set[tuple[int | None, str]], write: _Write
) -> list[tuple[int, int | None, str]]:
    """Delete (with history) the rules a replace import redefines; returns them as
    (id, tenant id, prefix)."""
    scope_query = models.Q(pk__in=[])
    for tenant_id in scopes:
        scope_query |= (
            models.Q(tenant__isnull=True) if tenant_id is None else models.Q(tenant_id=tenant_id)
        )
    rules = RouteRule.objects.filter(scope_query).order_by()
    doomed: list[tuple[int, int | None, str]] = []
    if mode == REPLACE_SCOPE:
        doomed = list(rules.values_list("id", "tenant_id", "prefix"))
    else:
        by_prefix = sorted({prefix for _, prefix in prefixes})
        for batch in _chunks(by_prefix, LOOKUP_CHUNK):
            found = rules.filter(prefix__in=batch).values_list("id", "tenant_id", "prefix")
            doomed += [row for row in found if (row[1], row[2]) in prefixes]
    ids = [pk for pk, _, _ in doomed]
    _delete(RouteTarget, "rule_id", ids, write)
    _delete(RouteRule, "id", ids, write)
    return doomed


def _time_text(value: datetime.time | None) -> str:
    if value is None:
        return ""
    if value.second == 0 and value.microsecond == 0:
        return value.strftime("%H:%M")
    return value.isoformat()


class Exporter:
    """An export in the import format, through the one CSV writer of every export.

    `exporter(out, queryset=None)` writes the CSV to a text file and returns the row count
    (the commands); `exporter.chunks(queryset=None)` yields it a batch of BATCH_SIZE rows at
    a time (the API and the admin stream those: routing.streaming). The rows come from the
    database a batch at a time too (a server-side cursor on PostgreSQL), as plain values,
    not model instances: memory stays flat whatever the table's size, and 100,000 rules
    export in seconds. Every cell goes through neutralise_formula().
    """

    def __init__(
        self,
        columns: Sequence[str],
        batches: Callable[[models.QuerySet[Any] | None], Iterator[list[list[str]]]],
    ) -> None:
        self.columns = tuple(columns)
        self.batches = batches

    def chunks(self, queryset: models.QuerySet[Any] | None = None) -> Iterator[str]:
        yield _csv_text([self.columns])
        for batch in self.batches(queryset):
            yield _csv_text(batch)

    def __call__(self, out: IO[str], queryset: models.QuerySet[Any] | None = None) -> int:
        out.write(_csv_text([self.columns]))
        count = 0
        for batch in self.batches(queryset):
            out.write(_csv_text(batch))
            count += len(batch)
        return count


# A cell's first character that may need neutralise_formula(): most cells are tested here,
# in the comprehension, without a call.
_FORMULA_OR_QUOTE = FORMULA_STARTS | {"'"}


def _csv_text(rows: Iterable[Sequence[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerows(
        [neutralise_formula(cell) if cell[:1] in _FORMULA_OR_QUOTE else cell for cell in row]
        for row in rows
    )
    return buffer.getvalue()


_TARGET_FIELDS = (
    "targets__order",
    "targets__weight",
    "targets__carrier__name",
    "targets__gateway__carrier__name",
    "targets__gateway__name",
)


def _route_rule_batches(queryset: models.QuerySet[RouteRule] | None) -> Iterator[list[list[str]]]:
    """Rules (all, or `queryset`) as rows of cells, a batch at a time.

    One query, streamed: a row per rule and target (a rule without targets has one), in the
    export's order, then in failover order; the rows of a rule are consecutive and become
    its line. One snapshot for rules and targets alike, and no list of ids to send back.
    """
    # The rules themselves, not `queryset`'s joins: a filter on the targets (the admin's
    # list filters) must not narrow the targets exported with them.
    rules = RouteRule.objects.all()
    if queryset is not None:
        rules = rules.filter(pk__in=queryset.order_by().values("pk"))
    fields = [name for name in ROUTE_COLUMNS if name not in ("tenant", "targets")]
    rows = rules.order_by(
        models.F("tenant__name").asc(nulls_first=True),
        "prefix",
        "caller_prefix",
        "priority",
        "id",
        "targets__order",
        "targets__id",
    ).values_list("id", "tenant__name", *fields, *_TARGET_FIELDS)
    width = 2 + len(fields)
    escaped: dict[str, str] = {}  # a few carrier and gateway names, 100,000s of times

    def name_of(name: str) -> str:
        if name not in escaped:
            escaped[name] = escape_name(name)
        return escaped[name]

    def lines() -> Iterator[list[str]]:
        for _, group in itertools.groupby(rows.iterator(chunk_size=BATCH_SIZE), itemgetter(0)):
            first = None
            targets = []
            for row in group:
                first = first or row
                order, weight, carrier, gateway_carrier, gateway = row[width:]
                if order is None:
                    continue  # a rule without targets
                if gateway is not None:
                    target = f"gateway:{name_of(gateway_carrier)}/{name_of(gateway)}"
                else:
                    target = f"carrier:{name_of(carrier)}"
                targets.append(f"{target}@{order}/{weight}")
            assert first is not None
            cells = dict(zip(fields, first[2:width], strict=True))
            cells["tenant"] = first[1] or ""
            cells["priority"] = str(cells["priority"])
            cells["enabled"] = "true" if cells["enabled"] else "false"
            cells["start_time"] = _time_text(cells["start_time"])
            cells["end_time"] = _time_text(cells["end_time"])
            cells["targets"] = ";".join(targets)
            code = cells["reject_code"]
            cells["reject_code"] = "" if code is None else str(code)
            band = cells["band_percent"]
            cells["band_percent"] = "" if band is None else str(band)
            yield [cells[name] for name in ROUTE_COLUMNS]

    yield from _batched(lines(), BATCH_SIZE)


export_route_rules = Exporter(ROUTE_COLUMNS, _route_rule_batches)


# --- DIDs -------------------------------------------------------------------------------------

_DID_FIELDS = ("number", "match", "range_end", "description", "enabled")


def import_dids(
    file: Iterable[str],
    *,
    mode: str = ADD,
    dry_run: bool = False,
    user: Any = None,
    change_reason: str | None = None,
    progress: Progress | None = None,
) -> ImportResult:
    """Import DIDs from a CSV text stream (see the module docstring for the format).

    Raises ImportFailed (nothing written) when any line is bad.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    wrap = progress or _no_progress
    now = timezone.now()
    write = _Write(_history_user(user), _reason(change_reason, "CSV import of DIDs"), now, wrap)
    errors = _Errors()
    defaults = {name: _field_default(Did, name) for name in _DID_FIELDS}
    result = ImportResult(dry_run=dry_run)
    with transaction.atomic(), _Spool() as did_rows:
        version = bump_routing_version(changed=Changes())  # the lock; changes logged at the end
        tenants = {tenant.name: tenant for tenant in Tenant.objects.all()}
        pbxs = {(pbx.tenant_id, pbx.name): pbx for pbx in Pbx.objects.all()}
        clean = _Cleaner(Did)
        columns = _columns(Did)
        # (number, match) -> line: what this import keeps in memory per row.
        keys: dict[tuple[str, str], int] = {}
        # Every DID of the file as the overlap rule sees it (a small record per row: a
        # number of the file may fall in another tenant's range or prefix, and back).
        spans: list[tuple[DidSpan, int]] = []
        tenant_ids: set[int] = set()
        records = _records(file, DID_COLUMNS, DID_REQUIRED, errors)
        for line, row in wrap(records, desc="validate", unit="row"):
            tenant = tenants.get(row.get("tenant", ""))
            if tenant is None:
                message = (
                    f"There is no tenant named '{row['tenant']}'."
                    if row.get("tenant")
                    else "This field is required."
                )
                errors.add(line, "tenant", message)
            pbx = None
            if tenant is not None:
                pbx = pbxs.get((tenant.pk, row.get("pbx", "")))
                if pbx is None:
                    message = (
                        f"Tenant '{tenant.name}' has no PBX named '{row['pbx']}'."
                        if row.get("pbx")
                        else "This field is required."
                    )
                    errors.add(line, "pbx", message)
            values = _clean_columns(clean, line, row, _DID_FIELDS, errors, defaults)
            if values is None or tenant is None or pbx is None:
                continue
            did = Did(tenant=tenant, pbx=pbx, created_at=now, updated_at=now, **values)
            if not _check_did(did, line, errors):
                continue
            key = (did.number, did.match)
            if key in keys:
                errors.add(line, "number", f"Line {keys[key]} already has this number and match.")
            keys.setdefault(key, line)
            spans.append((did.span(key=("line", line)), line))
            if errors:
                continue  # nothing will be written: only the checks go on
            tenant_ids.add(tenant.pk)
            did_rows.append(tuple(getattr(did, name) for name in columns))
        errors.raise_if_any()

        doomed: list[tuple[int, str]] = []
        if mode == ADD:
            _check_existing_dids(keys, errors)
            errors.raise_if_any()
        else:
            doomed = _dids_to_replace(mode, keys, tenant_ids)
        _check_overlaps(spans, {pk for pk, _ in doomed}, errors)
        errors.raise_if_any()
        del keys, spans
        result.deleted = _delete(Did, "id", [pk for pk, _ in doomed], write)
        ids = _insert(Did, did_rows, did_rows.count, write, "dids")
        result.created = did_rows.count
        record_changes(
            version,
            Changes(dids=[(pk, None, number) for pk, number in doomed]
                    + [(pk, None, None) for pk in ids]),
        )  # fmt: skip
        if dry_run:
            transaction.set_rollback(True)
    return result


def _check_did(did: Did, line: int, errors: _Errors) -> bool:
    """Did.clean() without a query: overlaps are checked later, all lines at once."""
    problems = did.own_errors()
    for field_name, message in problems.items():
        errors.add(line, field_name, message)
    return not problems


def _check_existing_dids(keys: dict[tuple[str, str], int], errors: _Errors) -> None:
    numbers = sorted({number for number, _ in keys})
    message = Did().unique_error_message(Did, ("number", "match")).messages[0]
    for batch in _chunks(numbers, LOOKUP_CHUNK):
        for key in Did.objects.filter(number__in=batch).values_list("number", "match"):
            line = keys.get(key)
            if line is not None:
                errors.add(line, "number", message)


def _dids_to_replace(
    mode: str, keys: dict[tuple[str, str], int], tenant_ids: set[int]
) -> list[tuple[int, str]]:
    """The DIDs a replace import deletes first, as (id, number)."""
    if mode == REPLACE_SCOPE:
        return list(Did.objects.filter(tenant_id__in=tenant_ids).values_list("id", "number"))
    numbers = sorted({number for number, _ in keys})
    doomed: list[tuple[int, str]] = []
    for batch in _chunks(numbers, LOOKUP_CHUNK):
        found = Did.objects.filter(number__in=batch).values_list("id", "number", "match")
        doomed += [(pk, number) for pk, number, match in found if (number, match) in keys]
    return doomed


def _check_overlaps(new: list[tuple[DidSpan, int]], doomed_ids: set[int], errors: _Errors) -> None:
    """Did.clean()'s overlap rule (routing.did_overlaps) over the file's DIDs and the
    database's, in one sweep; between two lines of the file, reported on the later one."""
    if not new:
        return
    spans = [span for span, _ in new]
    existing = {
        row.pk: row.span() for row in _overlap_candidates(spans) if row.pk not in doomed_ids
    }
    index = DidIndex([*spans, *existing.values()])
    for span, (_, line) in zip(spans, new, strict=True):
        for other in index.conflicts(span):
            if isinstance(other.key, tuple) and other.key[1] > line:
                continue  # reported on that later line
            same_tenant = other.tenant_id == span.tenant_id
            errors.add(line, error_field(span), overlap_message(other, same_tenant))
            break


def _overlap_candidates(spans: list[DidSpan]) -> Iterator[Did]:
    """The database's DIDs the file's could overlap: every range and prefix (a few), and
    the other tenants' numbers inside the file's ranges and prefixes (file numbers against
    database numbers are the unique check's)."""
    yield from Did.objects.filter(match__in=(DidMatch.RANGE, DidMatch.PREFIX)).select_related(
        "tenant"
    )
    wide = [span for span in spans if span.match != DidMatch.EXACT]
    for batch in _chunks(wide, OVERLAP_CHUNK):
        ids = _numbers_inside(batch)
        if ids:
            yield from Did.objects.filter(pk__in=ids).select_related("tenant")


def _numbers_inside(spans: Sequence[DidSpan]) -> list[int]:
    """Ids of the other tenants' exact numbers inside these ranges and prefixes: one join
    with the spans as a VALUES list, each an index range scan on the number (a chain of OR
    conditions made PostgreSQL test every row against every span)."""
    rows: list[Any] = []
    for span in spans:
        if span.match == DidMatch.PREFIX:
            rows += [
                span.number,
                span.number + "9" * PREFIX_MAX_LENGTH,
                span.tenant_id,
                len(span.number),
            ]
        else:
            rows += [span.number, span.range_end, span.tenant_id, 0]
    values = ", ".join(["(%s, %s, %s, %s)"] * len(spans))
    # substr() for a prefix: the range alone would do with digits, whatever the collation,
    # but this says exactly what is meant. Table name from the model, values as parameters.
    sql = (
        f"WITH v(low, high, tenant_id, size) AS (VALUES {values}) "  # noqa: S608
        f"SELECT DISTINCT d.id FROM {Did._meta.db_table} d JOIN v "
        "ON d.number BETWEEN v.low AND v.high AND d.tenant_id <> v.tenant_id "
        "AND ((v.size = 0 AND length(d.number) = length(v.low)) "
        "OR (v.size > 0 AND substr(d.number, 1, v.size) = v.low)) "
        "WHERE d.match = 'exact'"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, rows)
        return [row[0] for row in cursor.fetchall()]


def _did_batches(queryset: models.QuerySet[Did] | None) -> Iterator[list[list[str]]]:
    """DIDs (all, or `queryset`) as rows of cells, a batch at a time."""
    if queryset is None:
        queryset = Did.objects.all()
    dids = queryset.order_by("tenant__name", "number", "match", "id").values_list(
        "tenant__name", "number", "match", "range_end", "pbx__name", "description", "enabled"
    )
    for batch in _batched(dids.iterator(chunk_size=BATCH_SIZE), BATCH_SIZE):
        yield [
            [tenant, number, match, range_end, pbx, description, "true" if enabled else "false"]
            for tenant, number, match, range_end, pbx, description, enabled in batch
        ]


export_dids = Exporter(DID_COLUMNS, _did_batches)


# --- Number list entries ---------------------------------------------------------------------

_ENTRY_FIELDS = ("number", "match", "range_end", "comment")
_MATCH_CODE = {EntryMatch.EXACT: 0, EntryMatch.PREFIX: 1, EntryMatch.RANGE: 2}


_KEY_WIDTH = 10**21  # 10 ** len(number) + number: below this for up to 20 digits


def _entry_key(list_id: int, match: str, number: str) -> int:
    """(list, match, number) as one int: a million keys of an import in memory cost an
    int each (~36 bytes), not a tuple of strings (~200). The number keeps its leading
    zeros (10 ** its length + its digits, as the rule index's prefix_key)."""
    return (list_id * 3 + _MATCH_CODE[match]) * _KEY_WIDTH + 10 ** len(number) + int(number)


def _key_list_number(key: int) -> tuple[int, str]:
    """The list id and the number of an _entry_key."""
    head, rest = divmod(key, _KEY_WIDTH)
    return head // 3, str(rest)[1:]


def import_list_entries(
    file: Iterable[str],
    *,
    mode: str = ADD,
    dry_run: bool = False,
    user: Any = None,
    change_reason: str | None = None,
    progress: Progress | None = None,
) -> ImportResult:
    """Import number list entries from a CSV text stream (see the module docstring).

    Raises ImportFailed (nothing written) when any line is bad. The lists named must exist.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    wrap = progress or _no_progress
    now = timezone.now()
    reason = _reason(change_reason, "CSV import of number list entries")
    write = _Write(_history_user(user), reason, now, wrap)
    errors = _Errors()
    defaults = {name: _field_default(NumberListEntry, name) for name in _ENTRY_FIELDS}
    result = ImportResult(dry_run=dry_run)
    with transaction.atomic(), _Spool() as entry_rows:
        version = bump_routing_version(changed=Changes())  # the lock; changes logged at the end
        lists = {row.name: row.pk for row in NumberList.objects.only("pk", "name")}
        clean = _Cleaner(NumberListEntry)
        # _entry_key -> line: what this import keeps in memory per row.
        keys: dict[int, int] = {}
        list_ids: set[int] = set()
        records = _records(file, LIST_ENTRY_COLUMNS, LIST_ENTRY_REQUIRED, errors)
        for line, row in wrap(records, desc="validate", unit="row"):
            name = row.get("list", "")
            list_id = lists.get(name)
            if list_id is None:
                message = (
                    f"There is no number list named '{name}'."
                    if name
                    else "This field is required."
                )
                errors.add(line, "list", message)
            values = _clean_columns(clean, line, row, _ENTRY_FIELDS, errors, defaults)
            if values is None or list_id is None:
                continue
            number, match, range_end = values["number"], values["match"], values["range_end"]
            problems = entry_errors(match, number, range_end)
            for field_name, message in problems.items():
                errors.add(line, field_name, message)
            if problems:
                continue
            key = _entry_key(list_id, match, number)
            if key in keys:
                errors.add(line, "number", f"Line {keys[key]} already has this number and match.")
            keys.setdefault(key, line)
            if errors:
                continue  # nothing will be written: only the checks go on
            list_ids.add(list_id)
            entry_rows.append((now, now, list_id, match, number, range_end, values["comment"]))
        errors.raise_if_any()

        if mode == ADD:
            _check_existing_entries(keys, errors)
            errors.raise_if_any()
            result.deleted = 0
        elif mode == REPLACE:
            doomed = _entries_to_replace(keys)
            result.deleted = _delete(NumberListEntry, "id", doomed, write)
        else:
            result.deleted = _delete(NumberListEntry, "number_list_id", sorted(list_ids), write)
        del keys
        if _columns(NumberListEntry) != [
            "created_at", "updated_at", "number_list_id", "match", "number", "range_end", "comment"
        ]:  # fmt: skip  # pragma: no cover - a new field: the rows above need it
            raise RuntimeError("NumberListEntry: unexpected columns")
        _insert(NumberListEntry, entry_rows, entry_rows.count, write, "list entries")
        result.created = entry_rows.count
        record_changes(version, Changes(lists=[(pk, None, None) for pk in sorted(list_ids)]))
        if dry_run:
            transaction.set_rollback(True)
    return result


def _existing_entries(keys: dict[int, int]) -> Iterator[tuple[int, int]]:
    """(id, key) of the database's entries that have a key of `keys`: by list, a chunk of
    numbers at a time. A list with no entry yet (the first import's case) costs nothing:
    its numbers are not even listed."""
    if not keys:
        return
    list_ids = {key // _KEY_WIDTH // 3 for key in keys}
    populated = set(
        NumberListEntry.objects.filter(number_list_id__in=list_ids)
        .values_list("number_list_id", flat=True)
        .distinct()
    )
    if not populated:
        return
    by_list: dict[int, set[str]] = defaultdict(set)
    for key in keys:
        list_id, number = _key_list_number(key)
        if list_id in populated:
            by_list[list_id].add(number)
    for list_id in sorted(by_list):
        numbers = sorted(by_list[list_id])
        for batch in _chunks(numbers, LOOKUP_CHUNK):
            found = NumberListEntry.objects.filter(number_list_id=list_id, number__in=batch)
            for pk, match, number in found.values_list("id", "match", "number"):
                key = _entry_key(list_id, match, number)
                if key in keys:
                    yield pk, key


def _check_existing_entries(keys: dict[int, int], errors: _Errors) -> None:
    message = (
        NumberListEntry()
        .unique_error_message(NumberListEntry, ("number_list", "number", "match"))
        .messages[0]
    )
    for _, key in _existing_entries(keys):
        errors.add(keys[key], "number", message)


def _entries_to_replace(keys: dict[int, int]) -> list[int]:
    return [pk for pk, _ in _existing_entries(keys)]


def delete_list_entries(list_ids: Sequence[int], *, reason: str, user: Any = None) -> int:
    """Delete every entry of these lists in SQL, each with its "-" history record (a
    list's delete; a million entries deleted one by one would take minutes), in the
    caller's transaction. The caller bumps the routing version (the list's own delete
    does, through its signal)."""
    write = _Write(_history_user(user), reason[:100], timezone.now(), _no_progress)
    return _delete(NumberListEntry, "number_list_id", list(list_ids), write)


def _list_entry_batches(
    queryset: models.QuerySet[NumberListEntry] | None,
) -> Iterator[list[list[str]]]:
    """Entries (all, or `queryset`) as rows of cells, a batch at a time."""
    if queryset is None:
        queryset = NumberListEntry.objects.all()
    entries = queryset.order_by("number_list__name", "number", "match", "id").values_list(
        "number_list__name", "number", "match", "range_end", "comment"
    )
    for batch in _batched(entries.iterator(chunk_size=BATCH_SIZE), BATCH_SIZE):
        yield [list(row) for row in batch]


export_list_entries = Exporter(LIST_ENTRY_COLUMNS, _list_entry_batches)


__all__ = [
    "ADD",
    "DID_COLUMNS",
    "FORMULA_STARTS",
    "LIST_ENTRY_COLUMNS",
    "MODES",
    "REPLACE",
    "REPLACE_SCOPE",
    "ROUTE_COLUMNS",
    "Exporter",
    "ImportFailed",
    "ImportResult",
    "RowError",
    "delete_list_entries",
    "export_dids",
    "export_list_entries",
    "export_route_rules",
    "import_dids",
    "import_list_entries",
    "import_route_rules",
    "neutralise_formula",
    "restore_formula",
]
