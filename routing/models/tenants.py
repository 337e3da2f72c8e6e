"""Customers: tenants, their SIP domains and their PBXs."""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from simple_history.models import HistoricalRecords

from routing import validators
from routing.models.base import (
    CapacityLimits,
    SipEndpoint,
    TimestampedModel,
    endpoint_constraints,
)

NO_PROFIT_CODE = 503
NO_PROFIT_REASON = "No profitable route"
MARKUP_PERCENT_MAX = Decimal(1000)


class Pricing(models.TextChoices):
    """How a tenant without a sell rate deck is priced in least-cost rules."""

    NONE = "", "none (a sell rate deck, or no margin protection)"
    PERCENT = "percent", "cost + a percentage"
    FIXED = "fixed", "cost + a fixed amount per minute"


class Tenant(TimestampedModel, CapacityLimits):
    """A customer account: owns domains, PBXs, DIDs and its own route rules."""

    name = models.CharField(max_length=100, unique=True)
    enabled = models.BooleanField(
        default=True, help_text="A disabled tenant's PBXs cannot place calls (403)."
    )
    description = models.TextField(blank=True)
    # Least-cost routing: margin protection (when the tenant has a sell deck).
    min_margin_percent = models.DecimalField(
        "minimum margin (%)",
        max_digits=5,
        decimal_places=2,
        default=Decimal(0),
        db_default=Decimal(0),
        validators=[MinValueValidator(Decimal(0)), MaxValueValidator(Decimal(100))],
        help_text="In least-cost rules, a carrier is left out when the tenant's rate leaves "
        "less than this margin over the carrier's rate (0: cost up to the sell rate).",
    )
    no_profit_code = models.PositiveSmallIntegerField(
        "no profitable route: SIP code",
        default=NO_PROFIT_CODE,
        db_default=NO_PROFIT_CODE,
        validators=[
            MinValueValidator(validators.REFUSAL_CODE_RANGE[0]),
            MaxValueValidator(validators.REFUSAL_CODE_RANGE[1]),
        ],
        help_text="The answer when margin protection leaves no carrier (400-699).",
    )
    no_profit_reason = models.CharField(
        "no profitable route: reason",
        max_length=validators.REASON_PHRASE_MAX,
        default=NO_PROFIT_REASON,
        db_default=NO_PROFIT_REASON,
        validators=[validators.validate_reason_phrase],
    )
    # Least-cost routing without a sell deck: the customer's rate is each carrier's cost
    # plus a markup (routing.engine.pricing).
    pricing = models.CharField(
        "pricing policy",
        max_length=10,
        choices=Pricing.choices,
        blank=True,
        default=Pricing.NONE,
        db_default=Pricing.NONE,
        help_text="Without a sell rate deck: the customer's rate for a route is its carrier's "
        "rate plus a markup. Margin protection then applies to it as to a deck's rate.",
    )
    markup = models.DecimalField(
        max_digits=12,
        decimal_places=6,
        default=Decimal(0),
        db_default=Decimal(0),
        validators=[MinValueValidator(Decimal(0))],
        help_text="Percent of the cost (e.g. 20 for cost + 20%, at most 1000), or an amount "
        "per minute in the policy's currency (e.g. 0.002).",
    )
    pricing_currency = models.CharField(
        "markup currency",
        max_length=3,
        blank=True,
        default="",
        db_default="",
        validators=[validators.validate_currency],
        help_text="A fixed markup's currency (ISO 4217): carriers whose deck is in another "
        "one are left out (no conversion is done). Empty for a percentage.",
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(min_margin_percent__gte=0, min_margin_percent__lte=100),
                name="routing_tenant_min_margin_range",
            ),
            models.CheckConstraint(
                condition=models.Q(pricing="", markup=0, pricing_currency="")
                | models.Q(
                    pricing="percent",
                    markup__gte=0,
                    markup__lte=MARKUP_PERCENT_MAX,
                    pricing_currency="",
                )
                | models.Q(pricing="fixed", markup__gte=0, pricing_currency__regex=r"^[A-Z]{3}$"),
                name="routing_tenant_pricing_valid",
                violation_error_message="The pricing policy, its markup and currency do not match.",
            ),
            models.CheckConstraint(
                condition=models.Q(
                    no_profit_code__gte=validators.REFUSAL_CODE_RANGE[0],
                    no_profit_code__lte=validators.REFUSAL_CODE_RANGE[1],
                ),
                name="routing_tenant_no_profit_code_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if not self.pricing:
            if self.markup:
                errors["markup"] = "Choose a pricing policy for this markup (or leave it 0)."
            if self.pricing_currency:
                errors["pricing_currency"] = "Only a fixed markup has a currency."
        elif self.pricing == Pricing.PERCENT:
            if self.markup is not None and self.markup > MARKUP_PERCENT_MAX:
                errors["markup"] = f"At most {MARKUP_PERCENT_MAX}%."
            if self.pricing_currency:
                errors["pricing_currency"] = "A percentage has no currency: leave it empty."
        elif not self.pricing_currency:
            errors["pricing_currency"] = "Give the fixed markup's currency (e.g. EUR)."
        if self.pricing and self.pk is not None:
            from routing.models.rates import RateDeck  # rates.py imports this module

            deck = RateDeck.objects.filter(tenant_id=self.pk).first()
            if deck is not None:
                errors["pricing"] = (
                    f"The tenant has a sell rate deck ({deck}): its rates are the customer's. "
                    "Remove the deck or the policy."
                )
        if errors:
            raise ValidationError(errors)


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
