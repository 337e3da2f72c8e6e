"""Shared model pieces."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from routing import validators

PORT_VALIDATORS = [MinValueValidator(1), MaxValueValidator(65535)]
# SIP transaction timers (ms): what tm accepts sensibly for fr_timer / fr_inv_timer.
FR_TIMER_RANGE = (100, 120_000)
FR_INV_TIMER_RANGE = (1_000, 600_000)


class Transport(models.TextChoices):
    UDP = "udp", "UDP"
    TCP = "tcp", "TCP"
    TLS = "tls", "TLS"


class TimestampedModel(models.Model):
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


# Capacity limits: at most this many calls in progress / new calls per second.
MAX_CALLS_LIMIT = 1_000_000
MAX_CPS_LIMIT = 100_000


class CapacityLimits(models.Model):
    """Concurrent calls and calls per second, counted by Kamailio (kamailio.cfg, "capacity")
    across every node. Empty: no limit; 0: no calls at all."""

    max_calls = models.PositiveIntegerField(
        "max concurrent calls",
        null=True,
        blank=True,
        validators=[MaxValueValidator(MAX_CALLS_LIMIT)],
        help_text="At most this many calls at once, counted from the INVITE until the call "
        "ends or fails. Empty: no limit.",
    )
    max_cps = models.PositiveIntegerField(
        "max calls per second",
        null=True,
        blank=True,
        validators=[MaxValueValidator(MAX_CPS_LIMIT)],
        help_text="At most this many new calls in each second. Empty: no limit.",
    )

    class Meta:
        abstract = True


class SipEndpoint(TimestampedModel):
    """Where SIP is sent: a carrier's gateway or a customer's PBX."""

    host = models.CharField(
        max_length=253,
        validators=[validators.validate_host],
        help_text="IP address or DNS name of the SIP peer, without port (e.g. 192.0.2.10).",
    )
    port = models.PositiveIntegerField(default=5060, validators=PORT_VALIDATORS)
    transport = models.CharField(max_length=3, choices=Transport.choices, default=Transport.UDP)
    socket = models.CharField(
        max_length=64,
        blank=True,
        validators=[validators.validate_socket],
        help_text="Optional Kamailio socket to send from, e.g. udp:192.0.2.1:5060. "
        "Empty: Kamailio chooses.",
    )
    enabled = models.BooleanField(default=True)
    fr_timer = models.PositiveIntegerField(
        "final-response timer (ms)",
        null=True,
        blank=True,
        validators=[MinValueValidator(FR_TIMER_RANGE[0]), MaxValueValidator(FR_TIMER_RANGE[1])],
        help_text="Milliseconds to wait for any reply before trying the next route. "
        "Empty: the router default.",
    )
    fr_inv_timer = models.PositiveIntegerField(
        "INVITE final-response timer (ms)",
        null=True,
        blank=True,
        validators=[
            MinValueValidator(FR_INV_TIMER_RANGE[0]),
            MaxValueValidator(FR_INV_TIMER_RANGE[1]),
        ],
        help_text="Milliseconds to wait for an answer once ringing. Empty: the router default.",
    )

    class Meta:
        abstract = True

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def endpoint_constraints(prefix: str) -> list[models.BaseConstraint]:
    """Range checks shared by gateways and PBXs (named after the concrete model)."""
    return [
        models.CheckConstraint(
            condition=models.Q(port__gte=1, port__lte=65535), name=f"{prefix}_port_range"
        ),
        models.CheckConstraint(
            condition=models.Q(transport__in=Transport.values), name=f"{prefix}_transport_valid"
        ),
        models.CheckConstraint(
            condition=models.Q(fr_timer__isnull=True)
            | models.Q(fr_timer__gte=FR_TIMER_RANGE[0], fr_timer__lte=FR_TIMER_RANGE[1]),
            name=f"{prefix}_fr_timer_range",
        ),
        models.CheckConstraint(
            condition=models.Q(fr_inv_timer__isnull=True)
            | models.Q(
                fr_inv_timer__gte=FR_INV_TIMER_RANGE[0], fr_inv_timer__lte=FR_INV_TIMER_RANGE[1]
            ),
            name=f"{prefix}_fr_inv_timer_range",
        ),
    ]
