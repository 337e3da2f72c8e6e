"""Inbound numbers (DIDs) and where they are delivered."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Length
from django.db.models.lookups import Exact
from simple_history.models import HistoricalRecords

from routing import validators
from routing.models.base import TimestampedModel
from routing.models.tenants import Pbx, Tenant


class DidMatch(models.TextChoices):
    EXACT = "exact", "Exact number"
    RANGE = "range", "Range of numbers"
    PREFIX = "prefix", "Every number starting with"


class Did(TimestampedModel):
    """An inbound number, a range or a prefix owned by a tenant and delivered to one PBX."""

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="dids")
    pbx = models.ForeignKey(Pbx, on_delete=models.PROTECT, related_name="dids", verbose_name="PBX")
    number = models.CharField(
        max_length=20,
        validators=[validators.validate_digits],
        help_text="E.164 digits without '+', e.g. 33123456789. For a range, its first number.",
    )
    match = models.CharField(max_length=6, choices=DidMatch.choices, default=DidMatch.EXACT)
    range_end = models.CharField(
        max_length=20,
        blank=True,
        validators=[validators.validate_digits],
        help_text="Last number of a range (same number of digits as the first).",
    )
    enabled = models.BooleanField(default=True)
    description = models.CharField(max_length=200, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["number"]
        verbose_name = "DID"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(match__in=DidMatch.values), name="routing_did_match_valid"
            ),
            models.CheckConstraint(
                condition=~models.Q(number=""), name="routing_did_number_not_empty"
            ),
            # range_end only for ranges, and then not below the start with as many digits
            # (same-length digit strings compare like numbers).
            models.CheckConstraint(
                condition=(~models.Q(match=DidMatch.RANGE) & models.Q(range_end=""))
                | (
                    models.Q(match=DidMatch.RANGE)
                    & models.Q(range_end__gte=models.F("number"))
                    & models.Q(Exact(Length("range_end"), Length("number")))
                ),
                name="routing_did_range_valid",
            ),
            models.UniqueConstraint(
                fields=["number", "match"],
                name="routing_did_unique_number",
            ),
        ]
        indexes = [
            # Admin and API search by number start; the routing table loads everything anyway.
            models.Index(fields=["tenant", "number"], name="routing_did_tenant_number"),
        ]

    def __str__(self) -> str:
        if self.match == DidMatch.RANGE:
            return f"{self.number}-{self.range_end}"
        if self.match == DidMatch.PREFIX:
            return f"{self.number}*"
        return self.number

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.pbx_id and self.tenant_id and self.pbx.tenant_id != self.tenant_id:
            errors["pbx"] = "This PBX belongs to another tenant."
        if self.match == DidMatch.RANGE:
            if not self.range_end:
                errors["range_end"] = "A range needs its last number."
            elif len(self.range_end) != len(self.number):
                errors["range_end"] = "The last number must have as many digits as the first."
            elif self.range_end < self.number:
                errors["range_end"] = "The last number is below the first."
            elif self.number:
                clash = (
                    Did.objects.filter(
                        match=DidMatch.RANGE,
                        number__lte=self.range_end,
                        range_end__gte=self.number,
                    )
                    .annotate(number_length=Length("number"))
                    .filter(number_length=len(self.number))
                    .exclude(pk=self.pk)
                    .first()
                )
                if clash is not None:
                    errors["range_end"] = f"This range overlaps the range {clash}."
        elif self.range_end:
            errors["range_end"] = "Only a range has a last number."
        if errors:
            raise ValidationError(errors)
