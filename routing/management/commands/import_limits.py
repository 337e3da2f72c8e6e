"""manage.py import_limits FILE: set capacity limits from CSV, all or nothing."""

from __future__ import annotations

import sys
from functools import partial
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from routing import imports
from routing.imports_limits import import_limits


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
        path = options["file"]
        progress = None
        if not options["no_progress"]:
            progress = partial(tqdm, file=sys.stderr, disable=None, leave=False, mininterval=0.5)
        try:
            if path == "-":
                result = import_limits(
                    sys.stdin,
                    dry_run=options["dry_run"],
                    progress=progress,
                    change_reason="import from stdin",
                )
            else:
                try:
                    with open(path, encoding="utf-8-sig", newline="") as file:
                        result = import_limits(
                            file,
                            dry_run=options["dry_run"],
                            progress=progress,
                            change_reason=f"import of {path}"[:100],
                        )
                except OSError as exc:
                    raise CommandError(f"Cannot read {path}: {exc.strerror}.") from None
        except imports.ImportFailed as exc:
            raise CommandError(str(exc)) from None
        what = "Would change" if result.dry_run else "Changed"
        suffix = " (dry run: nothing written)" if result.dry_run else ""
        self.stdout.write(
            f"{what} the limits of {result.updated} objects; {result.unchanged} unchanged.{suffix}"
        )
