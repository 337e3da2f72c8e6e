"""Writes the API makes beyond a plain save: a rule and its ordered targets in one go.

Plain functions (HackSoftware style): the serializer validates, these write. Every save goes
through the model, so history is recorded and the routing version bumped by the signals.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import transaction

from routing.models import RouteRule, RouteTarget

TARGET_FIELDS = ("order", "carrier", "gateway", "weight")


@transaction.atomic
def route_rule_create(*, data: dict[str, Any], targets: Sequence[dict[str, Any]]) -> RouteRule:
    rule = RouteRule(**data)
    rule.save()
    route_targets_replace(rule=rule, targets=targets)
    return rule


@transaction.atomic
def route_rule_update(
    *, rule: RouteRule, data: dict[str, Any], targets: Sequence[dict[str, Any]] | None
) -> RouteRule:
    for name, value in data.items():
        setattr(rule, name, value)
    rule.save()
    if targets is not None:
        route_targets_replace(rule=rule, targets=targets)
    return rule


def route_targets_replace(*, rule: RouteRule, targets: Sequence[dict[str, Any]]) -> None:
    """Make the rule's targets exactly `targets`, inside the caller's transaction.

    A target that stays (same carrier or gateway) is updated in place rather than deleted
    and recreated, so its history shows what changed (an order, a weight) and not a churn.
    """
    current = {(t.carrier_id, t.gateway_id): t for t in rule.targets.select_for_update()}
    wanted: list[tuple[tuple[int | None, int | None], dict[str, Any]]] = []
    for target in targets:
        carrier, gateway = target.get("carrier"), target.get("gateway")
        key = (carrier.pk if carrier else None, gateway.pk if gateway else None)
        wanted.append((key, target))
    keep = {key for key, _ in wanted}
    for key, stale in current.items():
        if key not in keep:
            stale.delete()
    for key, target in wanted:
        existing = current.get(key)
        if existing is None:
            RouteTarget.objects.create(
                rule=rule, **{f: target[f] for f in TARGET_FIELDS if f in target}
            )
            continue
        changed = False
        for name in ("order", "weight"):
            if name in target and getattr(existing, name) != target[name]:
                setattr(existing, name, target[name])
                changed = True
        if changed:
            existing.save()
    # The serializer reads the targets back: drop any list prefetched before the change.
    getattr(rule, "_prefetched_objects_cache", {}).pop("targets", None)
