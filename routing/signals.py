"""Bump the routing data version whenever routing data changes.

This is the one place that sees every writer (admin, API, shell) without each having to
remember it. Bulk paths that skip signals (bulk_create in imports) call
bump_routing_version() themselves.
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save

from routing.models import ROUTING_MODELS, bump_routing_version


def _bump(sender: type, using: str = "default", raw: bool = False, **kwargs: Any) -> None:
    if raw:  # loaddata: the fixture's own rows, bumped once by whoever loads them
        return
    bump_routing_version(using)


for _model in ROUTING_MODELS:
    post_save.connect(_bump, sender=_model, dispatch_uid=f"routing-version-save-{_model.__name__}")
    post_delete.connect(
        _bump, sender=_model, dispatch_uid=f"routing-version-delete-{_model.__name__}"
    )
