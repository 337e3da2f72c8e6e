from __future__ import annotations

from django.apps import AppConfig


class RoutingConfig(AppConfig):
    name = "routing"
    verbose_name = "Routing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # c4router's `check --deploy` checks (the project has no app of its own to hold them).
        from c4router import checks  # noqa: F401

        # Any saved or deleted routing object bumps the routing data version, which every
        # worker polls to rebuild its table (routing.loader).
        from routing import signals  # noqa: F401
