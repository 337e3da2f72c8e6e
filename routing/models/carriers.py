"""Upstream providers and their gateways."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from simple_history.models import HistoricalRecords

from routing import validators
from routing.models.base import (
    CapacityLimits,
    SipEndpoint,
    TimestampedModel,
    Transport,
    endpoint_constraints,
)

WEIGHT_RANGE = (1, 1000)
STRIP_MAX = 20


class Carrier(TimestampedModel, CapacityLimits):
    """An upstream SIP provider: outbound calls go to its gateways, inbound come from it."""

    name = models.CharField(max_length=100, unique=True)
    enabled = models.BooleanField(
        default=True, help_text="A disabled carrier's gateways are skipped by every route."
    )
    from_domain = models.CharField(
        max_length=253,
        blank=True,
        validators=[validators.validate_host],
        help_text="Host part of the From URI sent to this carrier. Empty: keep the caller's.",
    )
    send_pai = models.BooleanField(
        "send P-Asserted-Identity",
        default=False,
        help_text="Add a P-Asserted-Identity header with the caller's number.",
    )
    send_rn = models.BooleanField(
        "send routing number (rn/npdi)",
        default=False,
        help_text="For a ported number (LNP), add ;npdi;rn=+<LRN> to the Request-URI's "
        "user part (RFC 4694), with user=phone: the carrier need not look it up again.",
    )
    extra_headers = models.TextField(
        blank=True,
        validators=[validators.validate_header_lines],
        help_text="Header lines added to every call to this carrier, one per line "
        "('X-Account: 1234').",
    )
    description = models.TextField(blank=True)
    health_policy = models.ForeignKey(
        "routing.HealthPolicy",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="carriers",
        help_text="How its gateways are probed and demoted. Empty: not watched.",
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Gateway(SipEndpoint, CapacityLimits):
    """One SIP address of a carrier, with how numbers must look toward it."""

    carrier = models.ForeignKey(Carrier, on_delete=models.CASCADE, related_name="gateways")
    name = models.CharField(max_length=100)
    weight = models.PositiveIntegerField(
        default=100,
        validators=[MinValueValidator(WEIGHT_RANGE[0]), MaxValueValidator(WEIGHT_RANGE[1])],
        help_text="Share of calls among the carrier's gateways when the whole carrier is a "
        "target (1-1000).",
    )
    strip = models.PositiveSmallIntegerField(
        default=0,
        validators=[MaxValueValidator(STRIP_MAX)],
        help_text="Digits removed from the front of the number sent to this gateway.",
    )
    prefix = models.CharField(
        max_length=20,
        blank=True,
        validators=[validators.validate_dial_prefix],
        help_text="Added in front of the number after stripping (e.g. a tech prefix '1234#').",
    )
    health_policy = models.ForeignKey(
        "routing.HealthPolicy",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="gateways",
        help_text="This gateway's own health policy. Empty: its carrier's.",
    )
    history = HistoricalRecords()

    def effective_health_policy(self):  # type: ignore[no-untyped-def]
        """Its own policy, else its carrier's (None: not watched)."""
        return self.health_policy or self.carrier.health_policy

    class Meta:
        ordering = ["carrier__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["carrier", "name"], name="routing_gateway_unique_name"),
            models.UniqueConstraint(
                fields=["carrier", "host", "port", "transport"],
                name="routing_gateway_unique_address",
            ),
            models.CheckConstraint(
                condition=models.Q(weight__gte=WEIGHT_RANGE[0], weight__lte=WEIGHT_RANGE[1]),
                name="routing_gateway_weight_range",
            ),
            models.CheckConstraint(
                condition=models.Q(strip__lte=STRIP_MAX), name="routing_gateway_strip_range"
            ),
            *endpoint_constraints("routing_gateway"),
        ]

    def __str__(self) -> str:
        return f"{self.carrier} / {self.name}"


__all__ = ["Carrier", "Gateway", "Transport"]
