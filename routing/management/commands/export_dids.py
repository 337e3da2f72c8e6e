"""manage.py export_dids [FILE]: write every DID as CSV (the import format)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from routing import imports


def run_export(
    command: BaseCommand, exporter: Callable[[IO[str]], int], noun: str, path: str
) -> None:
    if path == "-":
        exporter(command.stdout)
        return
    # Written beside the target and renamed: a reader never sees half a file.
    target = Path(path)
    try:
        fd, temp = tempfile.mkstemp(dir=target.parent or ".", prefix=f".{target.name}.")
    except OSError as exc:
        raise CommandError(f"Cannot write {path}: {exc.strerror}.") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as file:
            count = exporter(file)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    command.stderr.write(f"Exported {count} {noun} to {path}.")


class Command(BaseCommand):
    help = "Export all DIDs as CSV, in the format import_dids reads (default: stdout)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", nargs="?", default="-", help="Output file; '-' for stdout.")

    def handle(self, *args: Any, **options: Any) -> None:
        run_export(self, imports.export_dids, "DIDs", options["file"])
