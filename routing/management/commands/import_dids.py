"""manage.py import_dids FILE: load DIDs from CSV, all or nothing."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import partial
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from routing import imports


def add_import_arguments(parser: CommandParser, *, scope_word: str) -> None:
    """The arguments import_routes and import_dids share."""
    parser.add_argument("file", help="CSV file, UTF-8, with a header line; '-' for stdin.")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--replace",
        action="store_const",
        const=imports.REPLACE,
        dest="mode",
        help=f"First delete each existing {scope_word} the file redefines.",
    )
    mode.add_argument(
        "--replace-scope",
        action="store_const",
        const=imports.REPLACE_SCOPE,
        dest="mode",
        help=f"First delete every {scope_word} of each scope (tenant or global) the file names.",
    )
    parser.set_defaults(mode=imports.ADD)
    parser.add_argument(
        "--dry-run", action="store_true", help="Validate and count, then roll everything back."
    )
    parser.add_argument("--no-progress", action="store_true", help="No progress bar.")


def named_user(name: str | None) -> Any:
    """The user a command's --user names (None: no --user); an unknown name: CommandError."""
    if not name:
        return None
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.filter(username=name).first()
    if user is None:
        raise CommandError(f"There is no user named {name!r}.")
    return user


def import_file(importer: Callable[..., Any], options: Any, **kwargs: Any) -> Any:
    """`importer` over options["file"] ('-': stdin) with `kwargs`, options["dry_run"] and a
    progress bar unless options["no_progress"]; its result. A file that cannot be read or
    is refused: a CommandError saying why."""
    path = options["file"]
    progress = None
    if not options["no_progress"]:
        # On stderr, and only when it is a terminal (disable=None): logs stay clean.
        progress = partial(tqdm, file=sys.stderr, disable=None, leave=False, mininterval=0.5)
    kwargs.update(dry_run=options["dry_run"], progress=progress)
    try:
        if path == "-":
            return importer(sys.stdin, change_reason="import from stdin", **kwargs)
        try:
            with open(path, encoding="utf-8-sig", newline="") as file:
                return importer(file, change_reason=f"import of {path}"[:100], **kwargs)
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror}.") from None
    except imports.ImportFailed as exc:
        raise CommandError(str(exc)) from None


def run_import(
    command: BaseCommand, importer: Callable[..., imports.ImportResult], noun: str, options: Any
) -> None:
    result = import_file(importer, options, mode=options["mode"])
    what = "Would import" if result.dry_run else "Imported"
    extra = f" with {result.targets_created} targets" if noun == "rules" else ""
    deleted = f", after deleting {result.deleted}" if result.deleted else ""
    suffix = " (dry run: nothing written)" if result.dry_run else ""
    command.stdout.write(f"{what} {result.created} {noun}{extra}{deleted}.{suffix}")


class Command(BaseCommand):
    help = (
        "Import DIDs from a CSV file (format: routing/imports.py; '-' reads stdin). "
        "One bad line and nothing is written."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        add_import_arguments(parser, scope_word="DID")

    def handle(self, *args: Any, **options: Any) -> None:
        run_import(self, imports.import_dids, "DIDs", options)
