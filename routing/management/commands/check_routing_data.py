"""manage.py check_routing_data: list the routing rows today's validators refuse."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from routing.data_check import routing_data_problems


class Command(BaseCommand):
    help = (
        "List every routing row a validator refuses (saved before the rule existed, or "
        "written around it), one line each; writes nothing. Exits 1 when there is any."
    )

    def handle(self, *args: object, **options: object) -> None:
        count = 0
        for line in routing_data_problems():
            self.stdout.write(line)
            count += 1
        if count:
            raise CommandError(f"{count} problem(s): fix them in the admin or the API.")
        self.stdout.write("No problem found.")
