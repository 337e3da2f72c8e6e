"""manage.py import_routes FILE: load route rules from CSV, all or nothing."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from routing import imports
from routing.management.commands.import_dids import add_import_arguments, run_import


class Command(BaseCommand):
    help = (
        "Import route rules from a CSV file (format: routing/imports.py; '-' reads stdin). "
        "One bad line and nothing is written."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        add_import_arguments(parser, scope_word="rule")

    def handle(self, *args: Any, **options: Any) -> None:
        run_import(self, imports.import_route_rules, "rules", options)
