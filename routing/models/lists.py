"""Number lists: numbers refused (block) or the only ones let through (allow).

A list looks at the caller (A) or the called (B) number, in E.164 after normalization, and
is attached to every call (global), to one tenant's calls, or to one carrier (that
carrier's routes are skipped for the numbers it refuses: the next route is tried).
Entries are exact numbers, prefixes or ranges; a list may hold millions of them (the
routing table keeps them as sorted arrays of integers: routing.engine.lists).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models, transaction
from django.db.models.functions import Length
from django.db.models.lookups import Exact
from simple_history.models import HistoricalRecords

from routing import validators
from routing.models.base import TimestampedModel
from routing.models.carriers import Carrier
from routing.models.tenants import Tenant


class ListMode(models.TextChoices):
    BLOCK = "block", "Block: listed numbers are refused"
    ALLOW = "allow", "Allow: only listed numbers pass"


class ListSide(models.TextChoices):
    CALLED = "called", "Called number (B)"
    CALLER = "caller", "Caller number (A)"


class EntryMatch(models.TextChoices):
    EXACT = "exact", "Exact number"
    PREFIX = "prefix", "Every number starting with"
    RANGE = "range", "Range of numbers"


# What a refused call gets when the list does not say: distinct for each side, so that a
# caller (and the call records) can tell which number was refused.
DEFAULT_CODE = 403
DEFAULT_REASONS = {ListSide.CALLED: "Destination blocked", ListSide.CALLER: "Source blocked"}


class NumberList(TimestampedModel):
    name = models.CharField(max_length=100, unique=True)
    mode = models.CharField(max_length=5, choices=ListMode.choices, default=ListMode.BLOCK)
    side = models.CharField(
        max_length=6,
        choices=ListSide.choices,
        default=ListSide.CALLED,
        help_text="Which number of the call is looked up (E.164, after normalization).",
    )
    tenant = models.ForeignKey(
        Tenant,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="number_lists",
        help_text="Only this tenant's calls (its PBXs' outbound calls, its DIDs' and domains' "
        "inbound calls). Empty (and no carrier): every call.",
    )
    carrier = models.ForeignKey(
        Carrier,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="number_lists",
        help_text="Only routes to this carrier: the carrier is skipped for the numbers the "
        "list refuses, and the next route is tried. Empty: the call is refused.",
    )
    code = models.PositiveSmallIntegerField(
        "refusal code",
        default=DEFAULT_CODE,
        validators=[
            MinValueValidator(validators.REFUSAL_CODE_RANGE[0]),
            MaxValueValidator(validators.REFUSAL_CODE_RANGE[1]),
        ],
        help_text="The SIP code a refused call gets (400-699).",
    )
    reason = models.CharField(
        "refusal reason",
        max_length=validators.REASON_PHRASE_MAX,
        blank=True,
        validators=[validators.validate_reason_phrase],
        help_text="The SIP reason text. Empty: 'Destination blocked' for a called-number "
        "list, 'Source blocked' for a caller-number list.",
    )
    enabled = models.BooleanField(default=True)
    description = models.CharField(max_length=200, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]
        verbose_name = "number list"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(mode__in=ListMode.values), name="routing_numberlist_mode_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(side__in=ListSide.values), name="routing_numberlist_side_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(
                    code__gte=validators.REFUSAL_CODE_RANGE[0],
                    code__lte=validators.REFUSAL_CODE_RANGE[1],
                ),
                name="routing_numberlist_code_range",
            ),
            models.CheckConstraint(
                condition=models.Q(tenant__isnull=True) | models.Q(carrier__isnull=True),
                name="routing_numberlist_one_attachment",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def refusal_reason(self) -> str:
        return self.reason or DEFAULT_REASONS.get(self.side, "Blocked")  # type: ignore[call-overload]

    @property
    def attachment(self) -> str:
        if self.carrier_id is not None:
            return f"carrier {self.carrier}"
        if self.tenant_id is not None:
            return f"tenant {self.tenant}"
        return "global"

    def clean(self) -> None:
        if self.tenant_id is not None and self.carrier_id is not None:
            raise ValidationError(
                {"carrier": "Attach a list to a tenant or to a carrier, not both."}
            )

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        """The entries go first, in SQL with their history (a million entries deleted one
        by one, with signals, would take minutes); then the list, as any delete."""
        from routing.imports import delete_list_entries

        # The admin's or the API's user, as simple-history's middleware holds it for the
        # list's own history record.
        request = getattr(HistoricalRecords.context, "request", None)
        user = getattr(request, "user", None)
        with transaction.atomic():
            removed = delete_list_entries(
                [self.pk], reason=f"Number list {self.name} deleted"[:100], user=user
            )
            count, per_model = super().delete(*args, **kwargs)
        if removed:
            per_model = {**per_model, NumberListEntry._meta.label: removed}
        return count + removed, per_model


class NumberListEntry(TimestampedModel):
    number_list = models.ForeignKey(
        NumberList, on_delete=models.CASCADE, related_name="entries", verbose_name="list"
    )
    match = models.CharField(max_length=6, choices=EntryMatch.choices, default=EntryMatch.EXACT)
    number = models.CharField(
        max_length=20,
        validators=[validators.validate_digits],
        help_text="E.164 digits without '+', e.g. 33612345678. For a range, its first number.",
    )
    range_end = models.CharField(
        max_length=20,
        blank=True,
        validators=[validators.validate_digits],
        help_text="Last number of a range (same number of digits as the first).",
    )
    comment = models.CharField(max_length=200, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["number_list", "number"]
        verbose_name = "number list entry"
        verbose_name_plural = "number list entries"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(match__in=EntryMatch.values),
                name="routing_numberlistentry_match_valid",
            ),
            models.CheckConstraint(
                condition=~models.Q(number=""), name="routing_numberlistentry_number_not_empty"
            ),
            models.CheckConstraint(
                condition=(~models.Q(match=EntryMatch.RANGE) & models.Q(range_end=""))
                | (
                    models.Q(match=EntryMatch.RANGE)
                    & models.Q(range_end__gte=models.F("number"))
                    & models.Q(Exact(Length("range_end"), Length("number")))
                ),
                name="routing_numberlistentry_range_valid",
            ),
            models.UniqueConstraint(
                fields=["number_list", "number", "match"],
                name="routing_numberlistentry_unique",
            ),
        ]

    def __str__(self) -> str:
        if self.match == EntryMatch.RANGE:
            return f"{self.number}-{self.range_end}"
        if self.match == EntryMatch.PREFIX:
            return f"{self.number}*"
        return self.number

    def clean(self) -> None:
        errors = self.own_errors()
        if errors:
            raise ValidationError(errors)

    def own_errors(self) -> dict[str, str]:
        """clean()'s checks, without a query (the CSV import runs them per line)."""
        return entry_errors(self.match, self.number, self.range_end)


def entry_errors(match: str, number: str, range_end: str) -> dict[str, str]:
    """What is wrong with an entry's match, number and last number, by field."""
    if match == EntryMatch.RANGE:
        if not range_end:
            return {"range_end": "A range needs its last number."}
        if len(range_end) != len(number):
            return {"range_end": "The last number must have as many digits as the first."}
        if range_end < number:
            return {"range_end": "The last number is below the first."}
    elif range_end:
        return {"range_end": "Only a range has a last number."}
    return {}
