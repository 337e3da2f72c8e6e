"""manage.py import_rates DECK FILE [--effective-from ...] [--delta] [--preview]: a rate
deck from CSV, previewed or applied all or nothing (routing/imports_rates.py)."""

from __future__ import annotations

import sys
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from routing.imports import ImportFailed
from routing.imports_rates import (
    DELTA,
    FULL,
    KIND_LABELS,
    RateImportResult,
    import_rates,
    parse_moment,
)
from routing.management.commands.import_dids import named_user
from routing.models import RateDeck


def find_deck(name: str) -> RateDeck:
    """The deck of this name (or id), or a CommandError naming it."""
    deck = RateDeck.objects.filter(name=name).first()
    if deck is None and name.isdigit():
        deck = RateDeck.objects.filter(pk=int(name)).first()
    if deck is None:
        raise CommandError(f"There is no rate deck named {name!r}.")
    return deck


class Command(BaseCommand):
    help = (
        "Import a rate deck from CSV (prefix,rate[,connect_fee,initial_increment,"
        "next_increment,description,effective_from,change]; '-' reads stdin). Full by default: the "
        "file is the deck from the effective date on: new and changed rates start then, the "
        "ones they replace and the prefixes not in the file end then. --delta: only the "
        "file's prefixes change, the others stay as they are (a line whose change is "
        "'removed' closes its prefix). A line's effective_from (ISO 8601 date or date-time, "
        "without an offset in the server's time zone; not before the file's date) starts "
        "that line's rate then "
        "instead. --preview counts new, increased, decreased, unchanged and removed prefixes "
        "with a sample of each, and writes nothing. One bad line and nothing is written."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("deck", help="The rate deck's name (or id).")
        parser.add_argument("file", help="CSV file, UTF-8, with a header line; '-' for stdin.")
        parser.add_argument(
            "--effective-from",
            help="ISO 8601 date-time the new rates take effect (e.g. 2026-12-01T00:00+00:00), "
            "or a date (its midnight); without an offset, in the server's time zone "
            "(TIME_ZONE, UTC unless set). Default: now. Not in the past.",
        )
        parser.add_argument(
            "--delta",
            action="store_true",
            help="A delta: only the prefixes in the file change, the deck's others stay as "
            "they are (only the lines whose change is 'removed' close a prefix).",
        )
        parser.add_argument(
            "--preview", action="store_true", help="Compare with the deck; write nothing."
        )
        parser.add_argument("--sample", type=int, default=10, help="Prefixes shown per kind.")
        parser.add_argument(
            "--user", help="Username the history and the admin's Recent actions name."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        deck = find_deck(options["deck"])
        when = None
        if options["effective_from"]:
            when = parse_moment(options["effective_from"])
            if when is None:
                raise CommandError(
                    f"--effective-from: {options['effective_from']!r} is not an ISO 8601 "
                    "date-time (e.g. 2026-12-01T00:00+00:00) or date (2026-12-01)."
                )
        user = named_user(options["user"])
        kwargs = {
            "effective_from": when,
            "mode": DELTA if options["delta"] else FULL,
            "preview": options["preview"],
            "user": user,
            "sample_size": max(0, options["sample"]),
        }
        started = time.perf_counter()
        path = options["file"]
        try:
            if path == "-":
                result = import_rates(deck, sys.stdin, filename="stdin", **kwargs)
            else:
                try:
                    with open(path, encoding="utf-8-sig", newline="") as file:
                        result = import_rates(deck, file, filename=path, **kwargs)
                except OSError as exc:
                    raise CommandError(f"Cannot read {path}: {exc.strerror}.") from None
        except ImportFailed as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write("\n".join(describe(result)))
        self.stdout.write(f"Took {time.perf_counter() - started:.1f} s.")


def describe(result: RateImportResult) -> list[str]:
    """The preview (or what was applied) for people: counts, then the samples."""
    verb = "Preview of" if result.preview else "Imported"
    lines = [
        f"{verb} deck {result.deck} ({result.mode}) from {result.effective_from.isoformat()}: "
        f"{result.summary}."
    ]
    for kind in result.kinds:
        sample = result.samples.get(kind)
        if not sample:
            continue
        lines.append(f"{KIND_LABELS[kind].capitalize()} ({result.counts[kind]}):")
        for change in sample:
            if change.old is None:
                text = f"{change.new}"
            elif change.new is None:
                text = f"{change.old} (ends)"
            else:
                text = f"{change.old} -> {change.new}"
            where = f" (line {change.line})" if change.line else ""
            if change.effective_from:
                where = f" (line {change.line}, from {change.effective_from.isoformat()})"
            lines.append(f"  {change.prefix or '(every number)'}: {text}{where}")
    if result.preview:
        lines.append("Preview only: nothing was written.")
    else:
        lines.append(
            f"{result.created} rates start then, {result.ended} ended then, "
            f"{result.deleted} later-dated ones replaced."
        )
    if result.delta:
        lines.append("Delta: the deck's prefixes not in the file stay as they are.")
    return lines
