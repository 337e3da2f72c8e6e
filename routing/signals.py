"""Bump the routing data version whenever routing data changes.

This is the one place that sees every writer (admin, API, shell) without each having to
remember it. Changes to route rules, their targets and DIDs also say which row moved and
where it was (see routing.models.version), so that workers patch their table rather than
rebuild it. Bulk paths that skip signals (imports) call bump_routing_version() themselves
and say what they changed with record_changes().
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save, pre_save

from routing.models import (
    ROUTING_MODELS,
    Changes,
    Did,
    NumberList,
    NumberListEntry,
    PortedNumber,
    Rate,
    RouteRule,
    RouteTarget,
    bump_routing_version,
)


def _remember_old_key(sender: type, instance: Any, raw: bool = False, **kwargs: Any) -> None:
    """Before an update: where the worker's table holds this rule or DID now."""
    if raw or instance.pk is None:
        return
    fields = {RouteRule: ("tenant_id", "prefix"), Rate: ("deck_id", "prefix")}.get(
        sender, ("number",)
    )
    old = sender._base_manager.using(kwargs.get("using")).filter(pk=instance.pk)
    instance._routing_old_key = old.values_list(*fields).first()


def _changes(sender: type, instance: Any, deleted: bool) -> Changes | None:
    if sender is PortedNumber:
        # Into the workers' overlay over their arrays (the number, and the one it had
        # before when an edit changed it): no rebuild of millions of numbers.
        numbers = [instance.number]
        old = None if deleted else getattr(instance, "_routing_old_key", None)
        if old and old[0] != instance.number:
            numbers.append(old[0])
        return Changes(ported=[(None, None, number) for number in numbers])
    if sender is RouteRule:
        if deleted:
            return Changes(rules=[(instance.pk, instance.tenant_id, instance.prefix)])
        old = getattr(instance, "_routing_old_key", None) or (None, None)
        return Changes(rules=[(instance.pk, old[0], old[1])])
    if sender is RouteTarget:
        rule = RouteRule._base_manager.filter(pk=instance.rule_id).values_list(
            "tenant_id", "prefix"
        )
        tenant_id, prefix = rule.first() or (None, None)
        return Changes(rules=[(instance.rule_id, tenant_id, prefix)])
    if sender is Did:
        if deleted:
            return Changes(dids=[(instance.pk, None, instance.number)])
        old = getattr(instance, "_routing_old_key", None)
        return Changes(dids=[(instance.pk, None, old[0] if old else None)])
    if sender is Rate:
        # The workers re-read the rates of this prefix of the deck (and of where it was).
        rates: list[tuple[int, None, str | None]] = [(instance.deck_id, None, instance.prefix)]
        old = None if deleted else getattr(instance, "_routing_old_key", None)
        if old is not None and tuple(old) != (instance.deck_id, instance.prefix):
            rates.append((old[0], None, old[1]))
        return Changes(rates=rates)
    if sender is NumberList:
        return Changes(lists=[(instance.pk, None, None)])
    if sender is NumberListEntry:
        return Changes(lists=[(instance.number_list_id, None, None)])
    return Changes()  # a small table: every worker reloads those whole anyway


def _bump(sender: type, instance: Any, using: str = "default", raw: bool = False,
          deleted: bool = False, **kwargs: Any) -> None:  # fmt: skip
    if raw:  # loaddata: the fixture's own rows, bumped once by whoever loads them
        return
    bump_routing_version(using, changed=_changes(sender, instance, deleted))


def _bump_deleted(sender: type, instance: Any, using: str = "default", **kwargs: Any) -> None:
    _bump(sender, instance, using, deleted=True)


for _model in (RouteRule, Did, PortedNumber, Rate):
    pre_save.connect(
        _remember_old_key, sender=_model, dispatch_uid=f"routing-old-{_model.__name__}"
    )
for _model in ROUTING_MODELS:
    post_save.connect(_bump, sender=_model, dispatch_uid=f"routing-version-save-{_model.__name__}")
    post_delete.connect(
        _bump_deleted, sender=_model, dispatch_uid=f"routing-version-delete-{_model.__name__}"
    )
