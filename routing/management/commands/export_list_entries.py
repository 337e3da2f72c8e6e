"""manage.py export_list_entries [FILE]: every number list entry as CSV (the import format)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from routing import imports
from routing.management.commands.export_dids import run_export


class Command(BaseCommand):
    help = (
        "Export all number list entries as CSV, in the format import_list_entries reads "
        "(default: stdout)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", nargs="?", default="-", help="Output file; '-' for stdout.")

    def handle(self, *args: Any, **options: Any) -> None:
        run_export(self, imports.export_list_entries, "list entries", options["file"])
