from __future__ import annotations

from django.apps import AppConfig


class RoutingConfig(AppConfig):
    name = "routing"
    verbose_name = "Routing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Any saved or deleted routing object bumps the routing data version, which every
        # worker polls to rebuild its table (routing.loader).
        from routing import signals  # noqa: F401
