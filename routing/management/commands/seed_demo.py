"""manage.py seed_demo: load the demo data set (idempotent)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from routing.demo import seed_demo


class Command(BaseCommand):
    help = "Create or refresh the demo carriers, customers, numbers and routes (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--traffic", action="store_true",
            help="Also fill the last 24 hours with synthetic call records (Call-IDs demo-...), "
                 "so that the traffic figures are not empty; running it again adds only the "
                 "hours that are new.",
        )  # fmt: skip
        parser.add_argument(
            "--calls-per-hour", type=int, default=600, help="Demo calls per hour at the peak."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        counts = seed_demo()
        changed = counts.pop("changed")
        summary = ", ".join(f"{count} {label}" for label, count in counts.items())
        if changed:
            self.stdout.write(self.style.SUCCESS(f"Demo data: {changed} objects written."))
        else:
            self.stdout.write("Demo data already in place: nothing to write.")
        self.stdout.write(f"Demo set: {summary}.")
        if options["traffic"]:
            from routing.cdr.demo import seed_traffic

            stored = seed_traffic(per_hour=max(1, options["calls_per_hour"]))
            self.stdout.write(
                f"Demo traffic: {stored} synthetic call records written (Call-IDs demo-...)."
            )
