"""Customers: tenants, their SIP domains and their PBXs."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from simple_history.models import HistoricalRecords

from routing import validators
from routing.models.base import (
    CapacityLimits,
    SipEndpoint,
    TimestampedModel,
    endpoint_constraints,
)


class Tenant(TimestampedModel, CapacityLimits):
    """A customer account: owns domains, PBXs, DIDs and its own route rules."""

    name = models.CharField(max_length=100, unique=True)
    enabled = models.BooleanField(
        default=True, help_text="A disabled tenant's PBXs cannot place calls (403)."
    )
    description = models.TextField(blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Pbx(SipEndpoint, CapacityLimits):
    """A customer's SIP endpoint: where the tenant's inbound calls are delivered."""

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="pbxs")
    name = models.CharField(max_length=100)
    history = HistoricalRecords()

    class Meta:
        ordering = ["tenant__name", "name"]
        verbose_name = "PBX"
        verbose_name_plural = "PBXs"
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="routing_pbx_unique_name"),
            *endpoint_constraints("routing_pbx"),
        ]

    def __str__(self) -> str:
        return f"{self.tenant} / {self.name}"


class Domain(TimestampedModel):
    """A SIP domain served for a tenant: calls to user@domain reach the domain's PBX."""

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="domains")
    name = models.CharField(
        max_length=253,
        unique=True,
        validators=[validators.validate_fqdn],
        help_text="Fully qualified domain name, e.g. voice.customer.example.",
    )
    pbx = models.ForeignKey(
        Pbx,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="domains",
        verbose_name="PBX",
        help_text="Where inbound calls to this domain go when no DID matches.",
    )
    enabled = models.BooleanField(default=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        self.name = self.name.strip().lower().rstrip(".")
        if self.pbx_id and self.tenant_id and self.pbx.tenant_id != self.tenant_id:
            raise ValidationError({"pbx": "This PBX belongs to another tenant."})
