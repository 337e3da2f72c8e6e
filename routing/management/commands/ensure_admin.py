"""manage.py ensure_admin: make sure a superuser exists and print how to log in."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urljoin

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from routing.accounts import ensure_admin

PASSWORD_ENV = "C4ROUTER_ADMIN_PASSWORD"  # noqa: S105 - a variable name, not a password


class Command(BaseCommand):
    help = (
        "Create the superuser 'admin' if missing (random password, or $C4ROUTER_ADMIN_PASSWORD) "
        "and print the login. --reset sets a new password on an existing one."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="admin")
        parser.add_argument(
            "--reset", action="store_true", help="Give an existing user a new password."
        )
        parser.add_argument(
            "--url", help="Admin URL to print. Default: admin/ under the C4ROUTER_URL setting."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        username = options["username"]
        url = options["url"] or urljoin(settings.SITE_URL, "admin/")
        try:
            result = ensure_admin(
                username, password=os.environ.get(PASSWORD_ENV) or None, reset=options["reset"]
            )
        except ValidationError as exc:
            raise CommandError(f"{PASSWORD_ENV}: {' '.join(exc.messages)}") from None
        if result.password is None:
            self.stdout.write(
                f"Admin login: {url}  user: {username}  password: unchanged "
                f"(manage.py ensure_admin --reset prints a new one)"
            )
            return
        self.stdout.write(f"Admin login: {url}  user: {username}  password: {result.password}")
