"""manage.py import_ported_numbers FILE [--delta] [--dry-run]: load the portability
database from CSV, all or nothing (routing/imports_lnp.py)."""

from __future__ import annotations

import sys
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from routing.imports import ImportFailed
from routing.imports_lnp import import_ported_numbers
from routing.management.commands.import_dids import named_user


class Command(BaseCommand):
    help = (
        "Import ported numbers (LNP) from a CSV file with the columns number,lrn[,"
        "effective_from] ('-' reads stdin). Full by default: numbers not in the file are "
        "removed. --delta: only the numbers in the file change, an empty lrn removes one. "
        "One bad line and nothing is written."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="CSV file, UTF-8, with a header line; '-' for stdin.")
        parser.add_argument(
            "--delta",
            action="store_true",
            help="A refresh: add or change the numbers in the file; an empty lrn removes one.",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Check and count new, changed and removed numbers, then roll back.",
        )

        parser.add_argument(
            "--user",
            help="Username the admin's Recent actions name for this import (a LogEntry "
            "needs a user: without one, the import is only logged to the console log).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path = options["file"]
        user = named_user(options["user"])
        started = time.perf_counter()
        try:
            if path == "-":
                result = import_ported_numbers(
                    sys.stdin, delta=options["delta"], dry_run=options["dry_run"],
                    filename="stdin", user=user,
                )  # fmt: skip
            else:
                try:
                    with open(path, encoding="utf-8-sig", newline="") as file:
                        result = import_ported_numbers(
                            file, delta=options["delta"], dry_run=options["dry_run"],
                            filename=path, user=user,
                        )  # fmt: skip
                except OSError as exc:
                    raise CommandError(f"Cannot read {path}: {exc.strerror}.") from None
        except ImportFailed as exc:
            raise CommandError(str(exc)) from None
        elapsed = time.perf_counter() - started
        what = "Would import" if result.dry_run else "Imported"
        tail = " (dry run: nothing written)" if result.dry_run else ""
        mode = "delta" if result.delta else "full"
        self.stdout.write(f"{what} ported numbers ({mode}): {result.summary}{tail}.")
        self.stdout.write(f"Took {elapsed:.1f} s.")
