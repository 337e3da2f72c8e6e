"""Least-cost routing data: rate decks (what a carrier charges, what a tenant pays).

A deck belongs to exactly one owner: a carrier (its buy rates: what c4router pays for a
call it sends there) or a tenant (its sell rates: what the customer pays). A rate applies
to the called numbers (E.164) starting with its prefix, the longest prefix winning, from
its effective_from until its effective_until (excluded; empty: open-ended): a
future-dated rate takes effect at its time, with no other change.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone
from simple_history.models import HistoricalRecords

from routing import validators
from routing.models.base import TimestampedModel
from routing.models.carriers import Carrier
from routing.models.tenants import Tenant

RATE_DIGITS = 12
RATE_PLACES = 6
INCREMENT_MIN = 1


def plain(value: Decimal | str | int) -> str:
    """A rate as people read it: 0.0100 and 0.010000 both '0.01'."""
    return format(Decimal(str(value)).normalize(), "f")


class RateDeck(TimestampedModel):
    """A carrier's buy rates or a tenant's sell rates (one deck each at most)."""

    name = models.CharField(max_length=100, unique=True)
    carrier = models.OneToOneField(
        Carrier,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="rate_deck",
        help_text="A carrier's deck: what it charges. Its calls are ordered by these rates "
        "in least-cost rules.",
    )
    tenant = models.OneToOneField(
        Tenant,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="rate_deck",
        help_text="Or a tenant's deck: what the customer pays (margin protection).",
    )
    currency = models.CharField(
        max_length=3,
        default="USD",
        validators=[validators.validate_currency],
        help_text="ISO 4217 code of every rate of the deck (e.g. EUR). Decks in other "
        "currencies are compared through the exchange rates (Exchange rates).",
    )
    description = models.TextField(blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(carrier__isnull=False) & models.Q(tenant__isnull=True))
                | (models.Q(carrier__isnull=True) & models.Q(tenant__isnull=False)),
                name="routing_ratedeck_one_owner",
                violation_error_message="Choose exactly one owner: a carrier or a tenant.",
            ),
            models.CheckConstraint(
                condition=models.Q(currency__regex=r"^[A-Z]{3}$"),
                name="routing_ratedeck_currency_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def owner(self) -> str:
        if self.carrier_id:
            return f"carrier {self.carrier}"
        return f"tenant {self.tenant}" if self.tenant_id else "-"

    def clean(self) -> None:
        if bool(self.carrier_id) == bool(self.tenant_id):
            raise ValidationError("Choose exactly one owner: a carrier or a tenant.")
        if self.tenant_id and self.tenant.pricing:
            raise ValidationError(
                {
                    "tenant": f"{self.tenant} is priced by a policy (cost + a markup): "
                    "remove the policy first, or keep it and no sell deck."
                }
            )


class Rate(TimestampedModel):
    """The price of the calls to numbers starting with a prefix, for a time."""

    deck = models.ForeignKey(RateDeck, on_delete=models.CASCADE, related_name="rates")
    prefix = models.CharField(
        max_length=20,
        blank=True,
        validators=[validators.validate_prefix],
        help_text="E.164 digits the called number starts with (e.g. 4420). Empty: every "
        "number. The longest matching prefix wins.",
    )
    rate = models.DecimalField(
        "rate per minute",
        max_digits=RATE_DIGITS,
        decimal_places=RATE_PLACES,
        validators=[MinValueValidator(Decimal(0))],
        help_text="Price of one minute, in the deck's currency.",
    )
    connect_fee = models.DecimalField(
        max_digits=RATE_DIGITS,
        decimal_places=RATE_PLACES,
        default=Decimal(0),
        validators=[MinValueValidator(Decimal(0))],
        help_text="Charged once per answered call.",
    )
    initial_increment = models.PositiveIntegerField(
        default=1,
        validators=[MinValueValidator(INCREMENT_MIN)],
        help_text="Seconds billed at least (e.g. 60 for 60/60 billing, 1 for per-second).",
    )
    next_increment = models.PositiveIntegerField(
        default=1,
        validators=[MinValueValidator(INCREMENT_MIN)],
        help_text="Then billed in steps of this many seconds.",
    )
    effective_from = models.DateTimeField(
        default=timezone.now, help_text="The rate applies from this moment."
    )
    effective_until = models.DateTimeField(
        null=True, blank=True, help_text="Until this moment (excluded). Empty: no end."
    )
    description = models.CharField(max_length=200, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["deck", "prefix", "effective_from"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(rate__gte=0) & models.Q(connect_fee__gte=0),
                name="routing_rate_not_negative",
            ),
            models.CheckConstraint(
                condition=models.Q(
                    initial_increment__gte=INCREMENT_MIN, next_increment__gte=INCREMENT_MIN
                ),
                name="routing_rate_increments_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(effective_until__isnull=True)
                | models.Q(effective_until__gt=models.F("effective_from")),
                name="routing_rate_period_valid",
                violation_error_message="The rate must end after it starts.",
            ),
            models.UniqueConstraint(
                fields=["deck", "prefix", "effective_from"], name="routing_rate_unique_start"
            ),
        ]
        indexes = [models.Index(fields=["deck", "prefix"], name="routing_rate_deck_prefix")]

    def __str__(self) -> str:
        return f"{self.deck} {self.prefix or '*'}: {plain(self.rate)}/min"

    def clean(self) -> None:
        if (
            self.effective_until is not None
            and self.effective_from is not None
            and self.effective_until <= self.effective_from
        ):
            raise ValidationError({"effective_until": "The rate must end after it starts."})


FX_DIGITS = 20
FX_PLACES = 10


class ExchangeRate(TimestampedModel):
    """What one unit of a currency is worth in the base currency (least-cost routing)."""

    currency = models.CharField(
        max_length=3,
        unique=True,
        validators=[validators.validate_currency],
        help_text="ISO 4217 code (e.g. EUR). The base currency itself has no row: its rate is 1.",
    )
    rate = models.DecimalField(
        max_digits=FX_DIGITS,
        decimal_places=FX_PLACES,
        help_text="What one unit of this currency is worth in the base currency "
        "(C4ROUTER_BASE_CURRENCY), e.g. 1.08 for EUR in USD. Least-cost rules compare "
        "carriers in different currencies, and margins against a sell deck in another "
        "currency, with it.",
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["currency"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(currency__regex=r"^[A-Z]{3}$"),
                name="routing_exchangerate_currency_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(rate__gt=0),
                name="routing_exchangerate_rate_positive",
                violation_error_message="An exchange rate is above zero.",
            ),
        ]

    def __str__(self) -> str:
        return f"1 {self.currency} = {plain(self.rate)} {base_currency()}"

    def clean(self) -> None:
        base = base_currency()
        errors = {}
        if self.currency == base:
            errors["currency"] = (
                f"{base} is the base currency (C4ROUTER_BASE_CURRENCY): its rate is 1 by "
                "definition. Give the other currencies' rates in it."
            )
        if self.rate is not None and self.rate <= 0:
            errors["rate"] = "An exchange rate is above zero."
        if errors:
            raise ValidationError(errors)


def base_currency() -> str:
    """The currency exchange rates are given in (the setting C4ROUTER_BASE_CURRENCY)."""
    return str(settings.C4ROUTER["BASE_CURRENCY"])
