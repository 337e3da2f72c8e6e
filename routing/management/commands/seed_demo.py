"""manage.py seed_demo: load the demo data set (idempotent)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from routing.demo import seed_demo


class Command(BaseCommand):
    help = "Create or refresh the demo carriers, customers, numbers and routes (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        counts = seed_demo()
        changed = counts.pop("changed")
        summary = ", ".join(f"{count} {label}" for label, count in counts.items())
        if changed:
            self.stdout.write(self.style.SUCCESS(f"Demo data: {changed} objects written."))
        else:
            self.stdout.write("Demo data already in place: nothing to write.")
        self.stdout.write(f"Demo set: {summary}.")
