"""manage.py import_limits FILE: set capacity limits from CSV, all or nothing."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from routing.imports_limits import import_limits, objects_count
from routing.management.commands.import_dids import import_file


class Command(BaseCommand):
    help = (
        "Set the capacity limits of existing tenants, PBXs, IP sources, carriers and gateways "
        "from a CSV file (kind,name,max_calls,max_cps; format: routing/imports_limits.py; "
        "'-' reads stdin). Objects not in the file keep their limits. One bad line and "
        "nothing is written."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="CSV file, UTF-8, with a header line; '-' for stdin.")
        parser.add_argument(
            "--dry-run", action="store_true", help="Validate and count, then roll everything back."
        )
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")

    def handle(self, *args: Any, **options: Any) -> None:
        result = import_file(import_limits, options)
        what = "Would change" if result.dry_run else "Changed"
        suffix = " (dry run: nothing written)" if result.dry_run else ""
        self.stdout.write(
            f"{what} the limits of {objects_count(result.updated)}; {result.unchanged} "
            f"unchanged.{suffix}"
        )
