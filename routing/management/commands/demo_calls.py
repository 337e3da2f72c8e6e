"""manage.py demo_calls: the demo's Kamailio token and two routing queries to try."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from routing.demo import DEMO_CALLS, DEMO_INSTANCE, curl_command, demo_token


class Command(BaseCommand):
    help = (
        "Print the token Kamailio uses (router instance edge1 of the demo) and two curl "
        "commands asking the routing endpoint as Kamailio does: one routed, one refused."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--url", help="c4router's address. Default: the C4ROUTER_URL setting.")

    def handle(self, *args: Any, **options: Any) -> None:
        token = demo_token()
        if token is None:
            raise CommandError(
                f"no enabled router instance {DEMO_INSTANCE!r}: load the demo with "
                "manage.py seed_demo"
            )
        url = options["url"] or settings.SITE_URL
        self.stdout.write(
            f"Kamailio's token (router instance {DEMO_INSTANCE}, sent as X-C4-Token): {token}"
        )
        for call in DEMO_CALLS:
            self.stdout.write(f"Try {call.what}:")
            self.stdout.write(curl_command(url, token, call.query))
