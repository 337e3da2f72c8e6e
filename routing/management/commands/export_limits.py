"""manage.py export_limits [FILE]: write every object's capacity limits as CSV (the import
format)."""

from __future__ import annotations

from functools import partial
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from routing.imports_limits import export_limits
from routing.management.commands.export_dids import run_export


class Command(BaseCommand):
    help = (
        "Export the capacity limits of every tenant, PBX, IP source, carrier and gateway as "
        "CSV, in the format import_limits reads (default: stdout)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", nargs="?", default="-", help="Output file; '-' for stdout.")
        parser.add_argument(
            "--limited-only", action="store_true", help="Only the objects with a limit set."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        exporter = partial(export_limits, limited_only=options["limited_only"])
        run_export(self, exporter, "objects", options["file"])
