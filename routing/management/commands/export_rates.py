"""manage.py export_rates DECK [FILE] [--at ...]: a rate deck's rates in effect as CSV, in
the format import_rates reads (routing/imports_rates.py)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.dateparse import parse_datetime

from routing.imports_rates import rates_exporter
from routing.management.commands.export_dids import run_export
from routing.management.commands.import_rates import find_deck


class Command(BaseCommand):
    help = (
        "Export a rate deck's rates in effect (now, or --at a date-time) as CSV, one line per "
        "prefix, in the format import_rates reads (default: stdout)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("deck", help="The rate deck's name (or id).")
        parser.add_argument("file", nargs="?", default="-", help="Output file; '-' for stdout.")
        parser.add_argument(
            "--at", help="ISO 8601 date-time (e.g. 2026-12-01T00:00+00:00); default: now."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        deck = find_deck(options["deck"])
        at = None
        if options["at"]:
            try:
                at = parse_datetime(options["at"])
            except ValueError:  # well formed, not a date
                at = None
            if at is None or at.tzinfo is None:
                raise CommandError(
                    f"--at: {options['at']!r} is not an ISO 8601 date-time with its offset "
                    "(e.g. 2026-12-01T00:00+00:00)."
                )
        run_export(self, rates_exporter(deck, at), "rates", options["file"])
