"""manage.py import_list_entries FILE: load number list entries from CSV, all or nothing."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from routing import imports
from routing.management.commands.import_dids import add_import_arguments, run_import


class Command(BaseCommand):
    help = (
        "Import number list entries from a CSV file (columns list,number,match,range_end,"
        "comment; format: routing/imports.py; '-' reads stdin). One bad line and nothing "
        "is written. --replace-scope replaces every entry of each list the file names."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        add_import_arguments(parser, scope_word="list entry")

    def handle(self, *args: Any, **options: Any) -> None:
        run_import(self, imports.import_list_entries, "list entries", options)
