"""The routing data version: bumped by every change, polled by every worker."""

from __future__ import annotations

from django.db import models
from django.db.models import F
from django.utils import timezone


class RoutingVersion(models.Model):
    """A single row whose number grows with every change to routing data."""

    version = models.BigIntegerField(default=0)
    changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(id=1), name="routing_routingversion_singleton"
            )
        ]

    def __str__(self) -> str:
        return f"routing data v{self.version}"


def bump_routing_version(using: str = "default") -> None:
    """Mark routing data as changed, inside the caller's transaction.

    The UPDATE commits (or rolls back) with the change itself, so a worker never sees a new
    version before the data it describes.
    """
    updated = (
        RoutingVersion.objects.using(using)
        .filter(pk=1)
        .update(version=F("version") + 1, changed_at=timezone.now())
    )
    if not updated:
        RoutingVersion.objects.using(using).get_or_create(pk=1, defaults={"version": 1})


def current_routing_version(using: str = "default") -> int:
    row = RoutingVersion.objects.using(using).filter(pk=1).values_list("version", flat=True).first()
    return row or 0
