#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "c4router.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as exc:
        # A missing or malformed setting: the settings' own message says which and what to
        # do; Django's 30-line traceback around it would only hide it (--traceback shows it).
        if "--traceback" in sys.argv:
            raise
        sys.exit(f"manage.py: {exc}")


if __name__ == "__main__":
    main()
