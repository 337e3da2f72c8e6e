"""Inbound numbers (DIDs) and where they are delivered."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Left, Length
from django.db.models.lookups import Exact
from simple_history.models import HistoricalRecords

from routing import validators
from routing.did_overlaps import DidIndex, DidSpan, error_field, message
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
        errors = self.own_errors()
        if not errors:
            errors = self.overlap_errors()
        if errors:
            raise ValidationError(errors)

    def own_errors(self) -> dict[str, str]:
        """clean()'s checks of this row alone, without a query (the CSV import runs these
        per line, and the overlap rule once over the whole file)."""
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
        elif self.range_end:
            errors["range_end"] = "Only a range has a last number."
        return errors

    def span(self, key: object = None) -> DidSpan:
        """This DID as routing.did_overlaps sees it."""
        tenant = self.tenant.name if self.tenant_id else ""
        return DidSpan(
            key=self.pk if key is None else key,
            tenant_id=self.tenant_id,
            tenant=tenant,
            match=self.match,
            number=self.number,
            range_end=self.range_end,
        )

    def overlap_errors(self) -> dict[str, str]:
        """The first DID this one may not coexist with (routing.did_overlaps), found with
        one query for the rows that share a number with it."""
        if not (self.number and self.tenant_id and self.match in DidMatch.values):
            return {}
        me = self.span()
        candidates = overlap_candidates([me]).exclude(pk=self.pk)
        index = DidIndex(row.span() for row in candidates.select_related("tenant")[:100])
        other = next(index.conflicts(me), None)
        if other is None:
            return {}
        return {error_field(me): message(other, same_tenant=other.tenant_id == me.tenant_id)}


def overlap_candidates(spans: Iterable[DidSpan]) -> models.QuerySet[Did]:
    """The DIDs that share a number with any of spans (a superset the caller filters with
    routing.did_overlaps: the same rule decides, this only narrows the rows read).

    Another tenant's rows, and ranges of any tenant (ranges may never overlap)."""
    found = models.Q(pk__in=[])
    for span in spans:
        size = len(span.number)
        near = models.Q(pk__in=[])
        if span.match == DidMatch.PREFIX:
            covered = models.Q(number__startswith=span.number) & ~models.Q(match=DidMatch.RANGE)
            covering = models.Q(
                match=DidMatch.PREFIX,
                number__in=[span.number[:length] for length in range(1, size)],
            )
            crossing = models.Q(
                match=DidMatch.RANGE,
                number_length__gte=size,
                **{f"head_{size}__lte": span.number, f"tail_{size}__gte": span.number},
            )
            near = covered | covering | crossing
        else:
            first, last = span.number, span.range_end or span.number
            near = models.Q(
                number_length=size, number__lte=last, number__gte=first, match=DidMatch.EXACT
            ) | models.Q(
                number_length=size, number__lte=last, range_end__gte=first, match=DidMatch.RANGE
            )
            for length in range(1, size + 1):
                near |= models.Q(
                    match=DidMatch.PREFIX,
                    number_length=length,
                    number__gte=first[:length],
                    number__lte=last[:length],
                )
        other_tenant = ~models.Q(tenant_id=span.tenant_id)
        if span.match == DidMatch.RANGE:
            other_tenant |= models.Q(match=DidMatch.RANGE)
        found |= near & other_tenant
    sizes = {len(span.number) for span in spans if span.match == DidMatch.PREFIX}
    annotations: dict[str, Any] = {"number_length": Length("number")}
    for size in sizes:
        annotations[f"head_{size}"] = Left("number", size)
        annotations[f"tail_{size}"] = Left("range_end", size)
    return Did.objects.annotate(**annotations).filter(found)
