"""manage.py render_kamailio_config: write each router instance's kamailio.cfg."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from routing.kamailio import (
    INSTALLED_HTTP_ASYNC_CLIENT,
    KamailioRenderError,
    default_http_async_client,
    install_cache_module,
    render_instances,
)


class Command(BaseCommand):
    help = (
        "Render the Kamailio config of router instances to OUTPUT_DIR/<name>.cfg "
        "(atomically; all enabled instances unless --instance is given)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--instance",
            action="append",
            dest="instances",
            metavar="NAME",
            help="Render this instance (repeatable; disabled ones too). "
            "Default: every enabled instance.",
        )
        parser.add_argument(
            "--output-dir", required=True, type=Path, metavar="DIR", help="Where to write."
        )
        parser.add_argument(
            "--force", action="store_true", help="Replace configs that already exist."
        )
        parser.add_argument(
            "--check",
            action="store_true",
            help="Have `kamailio -c` accept each config before it is written (needs Kamailio).",
        )
        parser.add_argument(
            "--http-async-client",
            metavar="PATH",
            help="http_async_client.so to load: an absolute path or a name in the module "
            "directory. Default: the KAMAILIO_HTTP_ASYNC_CLIENT setting, else the module "
            "found on this host (module directory, /usr/local/lib/kamailio/, or where "
            "bin/install-kamailio built it).",
        )
        parser.add_argument(
            "--module-path",
            metavar="DIR",
            help="Kamailio's module directory (mpath). Default: the KAMAILIO_MODULE_PATH setting.",
        )

    def handle(self, *args: object, **options: object) -> None:
        module = str(
            options["http_async_client"] or default_http_async_client(options["module_path"])  # type: ignore[arg-type]
        )
        if module == str(install_cache_module()):
            self.stderr.write(
                f"note: loading http_async_client from bin/install-kamailio's build cache "
                f"({module}), which Debian's kamailio service (user kamailio) cannot read: "
                f"sudo install -D -m 0644 {module} {INSTALLED_HTTP_ASYNC_CLIENT}, then "
                "render again to load it from there"
            )
        try:
            result = render_instances(
                options["instances"],  # type: ignore[arg-type]
                options["output_dir"],  # type: ignore[arg-type]
                force=bool(options["force"]),
                check=bool(options["check"]),
                module_path=options["module_path"],  # type: ignore[arg-type]
                http_async_client_module=module,
            )
        except KamailioRenderError as exc:
            raise CommandError(str(exc)) from None
        checked = " (accepted by kamailio -c)" if options["check"] else ""
        for path in result.written:
            self.stdout.write(f"wrote {path}{checked}")
        if result.skipped:
            # The others are written; the exit status still tells a script something is wrong.
            raise CommandError(
                "not rendered, fix in the admin (`manage.py check_routing_data` lists "
                "every such row):\n" + "\n".join(result.skipped)
            )
