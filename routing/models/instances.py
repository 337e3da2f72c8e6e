"""Kamailio instances whose configuration c4router renders."""

from __future__ import annotations

import secrets

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from simple_history.models import HistoricalRecords

from routing import validators
from routing.models.base import (
    FR_INV_TIMER_RANGE,
    FR_TIMER_RANGE,
    PORT_VALIDATORS,
    TimestampedModel,
)

# Migration 0001 names the api_urls validator in this module; the grammar is the validators'.
from routing.validators import parse_api_urls, validate_api_urls

__all__ = ["ListenTransport", "RouterInstance", "new_token", "parse_api_urls", "validate_api_urls"]


class ListenTransport(models.TextChoices):
    UDP = "udp", "UDP"
    TCP = "tcp", "TCP"


def new_token() -> str:
    return secrets.token_urlsafe(32)


class RouterInstance(TimestampedModel):
    """A Kamailio instance that asks c4router for routes."""

    # A CharField: SlugField's own validator would word the same refusal a second way.
    name = models.CharField(
        max_length=validators.INSTANCE_NAME_MAX,
        unique=True,
        validators=[validators.validate_instance_name],
        help_text="Used in file names and logs.",
    )
    listen_ip = models.CharField(
        "listen IP address",
        max_length=45,
        validators=[validators.validate_ip],
        help_text="Address Kamailio listens on.",
    )
    listen_port = models.PositiveIntegerField(
        "listen port", default=5060, validators=PORT_VALIDATORS
    )
    transport = models.CharField(
        max_length=3, choices=ListenTransport.choices, default=ListenTransport.UDP
    )
    advertised_address = models.CharField(
        max_length=253,
        blank=True,
        validators=[validators.validate_advertised_address],
        help_text="Public address to put in Via/Record-Route when Kamailio is behind NAT.",
    )
    api_urls = models.TextField(
        "API URLs",
        validators=[validators.validate_api_urls],
        help_text="URLs of POST /kamailio/rtjson, one per line, tried in order when one fails.",
    )
    api_timeout_ms = models.PositiveIntegerField(
        "API timeout (ms)",
        default=2000,
        validators=[MinValueValidator(100), MaxValueValidator(30000)],
    )
    http_workers = models.PositiveSmallIntegerField(
        "HTTP workers",
        default=4,
        validators=[MinValueValidator(1), MaxValueValidator(64)],
        help_text="http_async_client worker processes.",
    )
    children = models.PositiveSmallIntegerField(
        "SIP worker processes",
        default=8,
        validators=[MinValueValidator(1), MaxValueValidator(256)],
        help_text="Kamailio's SIP worker processes (its 'children').",
    )
    fr_timer = models.PositiveIntegerField(
        "final-response timer (ms)",
        default=5000,
        validators=[MinValueValidator(FR_TIMER_RANGE[0]), MaxValueValidator(FR_TIMER_RANGE[1])],
        help_text="Default ms to wait for any reply.",
    )
    fr_inv_timer = models.PositiveIntegerField(
        "INVITE final-response timer (ms)",
        default=30000,
        validators=[
            MinValueValidator(FR_INV_TIMER_RANGE[0]),
            MaxValueValidator(FR_INV_TIMER_RANGE[1]),
        ],
        help_text="Default ms to wait for an answer once ringing.",
    )
    failover_codes = models.CharField(
        max_length=200,
        default="408,480,500,502,503,504",
        validators=[validators.validate_sip_codes],
        help_text="SIP codes from a carrier that make Kamailio try the next route.",
    )
    api_breaker_failures = models.PositiveSmallIntegerField(
        "API breaker: failures",
        default=3,
        validators=[MinValueValidator(1), MaxValueValidator(1000)],
        help_text="Failures or timeouts of one API URL after which Kamailio skips it.",
    )
    api_breaker_seconds = models.PositiveIntegerField(
        "API breaker: seconds",
        default=30,
        validators=[MinValueValidator(1), MaxValueValidator(86_400)],
        help_text="How long an API URL is skipped once its breaker is open, in seconds; "
        "then it is tried again.",
    )
    token = models.CharField(
        max_length=validators.TOKEN_MAX,
        default=new_token,
        validators=[validators.validate_token],
        help_text="Shared secret this instance sends to the API (X-C4-Token header).",
    )
    enabled = models.BooleanField(
        default=True, help_text="A disabled instance's token is refused by the API."
    )
    description = models.TextField(blank=True)
    history = HistoricalRecords(excluded_fields=["token"])

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(listen_port__gte=1, listen_port__lte=65535),
                name="routing_routerinstance_port_range",
            ),
            models.CheckConstraint(
                condition=models.Q(api_timeout_ms__gte=100, api_timeout_ms__lte=30000),
                name="routing_routerinstance_timeout_range",
            ),
            models.CheckConstraint(
                condition=models.Q(transport__in=ListenTransport.values),
                name="routing_routerinstance_transport_valid",
            ),
            models.UniqueConstraint(fields=["token"], name="routing_routerinstance_unique_token"),
            models.CheckConstraint(
                condition=models.Q(
                    api_breaker_failures__gte=1,
                    api_breaker_failures__lte=1000,
                    api_breaker_seconds__gte=1,
                    api_breaker_seconds__lte=86_400,
                ),
                name="routing_routerinstance_breaker_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def api_url_list(self) -> list[str]:
        return parse_api_urls(self.api_urls)

    @property
    def failover_code_list(self) -> list[int]:
        return validators.parse_sip_codes(self.failover_codes)
