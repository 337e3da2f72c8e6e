"""manage.py route: the rtjson c4router would answer for a call, and why."""

from __future__ import annotations

from datetime import datetime

from django.core.management.base import BaseCommand, CommandError, CommandParser

from routing.engine.query import QueryError
from routing.explain import explain_call


class Command(BaseCommand):
    help = "Print the rtjson answer for a call and the reasons (source, numbers, rule, targets)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--source-ip", required=True, help="Address the INVITE comes from.")
        parser.add_argument("--from", dest="from_uri", default="", help="From URI (caller).")
        parser.add_argument("--to", dest="to_uri", required=True, help="To URI (called party).")
        parser.add_argument(
            "--request-uri",
            default="",
            help="Request-URI, for RFC 4694's npdi and rn (e.g. "
            "'sip:+12025331234;npdi;rn=+13035440000@x'); default: none sent.",
        )
        parser.add_argument(
            "--at", help="Route as if it were this ISO 8601 time (e.g. 2026-11-30T10:00+01:00)."
        )
        parser.add_argument(
            "--seed", type=int, help="Fix the weighted shuffle (repeatable output)."
        )
        parser.add_argument("--json", action="store_true", help="Print only the rtjson answer.")

    def handle(self, *args: object, **options: object) -> None:
        at = None
        if options["at"]:
            try:
                at = datetime.fromisoformat(str(options["at"]))
            except ValueError:
                raise CommandError(f"--at: {options['at']!r} is not an ISO 8601 time") from None
            if at.tzinfo is None:
                raise CommandError("--at: give a time zone offset (e.g. +00:00)")
        try:
            result = explain_call(
                str(options["source_ip"]),
                str(options["from_uri"]),
                str(options["to_uri"]),
                request_uri=str(options["request_uri"]),
                at=at,
                seed=options["seed"],  # type: ignore[arg-type]
            )
        except QueryError as exc:
            raise CommandError(str(exc)) from None
        if not options["json"]:
            for line in result.lines:
                self.stdout.write(line)
            self.stdout.write("")
        self.stdout.write(result.answer_json)
