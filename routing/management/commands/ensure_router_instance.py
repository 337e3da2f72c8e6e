"""manage.py ensure_router_instance NAME: create a router instance or update its fields."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from routing.instances import FIELDS, ensure_router_instance
from routing.models.instances import ListenTransport


class Command(BaseCommand):
    help = (
        "Create the router instance NAME, or update the fields given on the command line "
        "(idempotent: nothing is written when they already have these values). The token "
        "is generated on creation and kept afterwards."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="Instance name (the rendered file is NAME.cfg).")
        parser.add_argument("--listen-ip", help="Address Kamailio listens on (required to create).")
        parser.add_argument("--listen-port", type=int)
        parser.add_argument("--transport", choices=ListenTransport.values)
        parser.add_argument("--advertised-address")
        parser.add_argument(
            "--api-url",
            action="append",
            dest="api_urls",
            metavar="URL",
            help="c4router's http://HOST:PORT/kamailio/rtjson; repeat it for several, tried "
            "in this order (required to create; replaces the whole list).",
        )
        parser.add_argument("--api-timeout-ms", type=int)
        parser.add_argument("--http-workers", type=int)
        parser.add_argument("--children", type=int)
        parser.add_argument("--fr-timer", type=int, metavar="MS")
        parser.add_argument("--fr-inv-timer", type=int, metavar="MS")
        parser.add_argument("--failover-codes", metavar="CODES", help="e.g. 408,480,500,503")
        parser.add_argument("--description")
        state = parser.add_mutually_exclusive_group()
        state.add_argument("--enable", action="store_const", const=True, dest="enabled")
        state.add_argument("--disable", action="store_const", const=False, dest="enabled")

    def handle(self, *args: Any, **options: Any) -> None:
        name = options["name"]
        try:
            result = ensure_router_instance(name, **{field: options[field] for field in FIELDS})
        except ValidationError as exc:
            problems = "; ".join(
                f"{field}: {' '.join(messages)}" for field, messages in exc.message_dict.items()
            )
            raise CommandError(f"router instance {name}: {problems}") from None
        if result.created:
            self.stdout.write(f"router instance {name}: created")
        elif result.changed:
            self.stdout.write(f"router instance {name}: updated {', '.join(result.changed)}")
        else:
            self.stdout.write(f"router instance {name}: already up to date")
