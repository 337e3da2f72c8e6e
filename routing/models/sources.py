"""Trusted IP sources: how the router knows who sent a call."""

from __future__ import annotations

import contextlib

from django.core.exceptions import ValidationError
from django.db import models
from simple_history.models import HistoricalRecords

from routing import validators
from routing.models.base import CapacityLimits, TimestampedModel
from routing.models.carriers import Carrier
from routing.models.tenants import Pbx


class IpSource(TimestampedModel, CapacityLimits):
    """A network trusted as one carrier's (inbound calls) or one PBX's (outbound calls) traffic."""

    cidr = models.CharField(
        "network",
        max_length=49,
        unique=True,
        validators=[validators.validate_cidr],
        help_text="IPv4 or IPv6 network in CIDR notation (192.0.2.0/24, 2001:db8::/64); "
        "a bare address means that host only. The longest matching network wins.",
    )
    carrier = models.ForeignKey(
        Carrier, on_delete=models.CASCADE, null=True, blank=True, related_name="ip_sources"
    )
    pbx = models.ForeignKey(
        Pbx,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="ip_sources",
        verbose_name="PBX",
    )
    enabled = models.BooleanField(default=True)
    description = models.CharField(max_length=200, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["cidr"]
        verbose_name = "IP source"
        constraints = [
            # Exactly one owner: a network trusted for nobody (or everybody) means nothing.
            models.CheckConstraint(
                condition=(models.Q(carrier__isnull=False) & models.Q(pbx__isnull=True))
                | (models.Q(carrier__isnull=True) & models.Q(pbx__isnull=False)),
                name="routing_ipsource_one_owner",
                violation_error_message="Choose exactly one owner: a carrier or a PBX.",
            ),
            models.CheckConstraint(
                condition=~models.Q(cidr=""), name="routing_ipsource_cidr_not_empty"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.cidr} ({self.owner})"

    @property
    def owner(self) -> Carrier | Pbx | None:
        return self.carrier or self.pbx

    def unique_error_message(
        self, model_class: type[models.Model], unique_check: tuple[str, ...]
    ) -> ValidationError:
        """A network already trusted: say whose it is (a network has one owner)."""
        if tuple(unique_check) == ("cidr",):
            other = (
                IpSource.objects.filter(cidr=self.cidr)
                .exclude(pk=self.pk)
                .select_related("carrier", "pbx__tenant")
                .first()
            )
            if other is not None:
                return ValidationError(
                    f"The network {self.cidr} is already an IP source of {other.owner_text}: "
                    "a network belongs to one carrier or one PBX.",
                    code="unique",
                )
        return super().unique_error_message(model_class, unique_check)

    @property
    def owner_text(self) -> str:
        if self.carrier_id:
            return f"carrier {self.carrier}"
        if self.pbx_id:
            return f"PBX {self.pbx.name} (tenant {self.pbx.tenant})"
        return "nobody"

    def clean(self) -> None:
        # The owner rule is the one_owner constraint, which full_clean() validates with its
        # message: a check here too would say it twice (and could not see the unsaved
        # carrier or PBX an admin inline row belongs to).
        if self.cidr:
            with contextlib.suppress(ValidationError):  # the field's validator reports it
                self.cidr = validators.normalize_cidr(self.cidr)
