"""Number portability (LNP): which numbers were ported, and the calls that look them up.

In portability markets a number's carrier is not told by its prefix: a ported number
keeps its digits and gets a location routing number (LRN) from the portability database.
An LnpRule says which calls look the called number up (a tenant's, or every call, to a
called-number prefix); a PortedNumber is one row of the local portability database
(routing.engine.lnp keeps them as two sorted arrays of integers in every worker).

History: a national database is tens of millions of rows, refreshed daily; a history row
per ported number would double it. PortedNumber has no per-row history: each import writes
one admin log entry (what it did, counts), and edits in the admin write theirs as any
change does. LnpRule keeps a full history.
"""

from __future__ import annotations

from django.db import models
from simple_history.models import HistoricalRecords

from routing import validators
from routing.models.base import TimestampedModel
from routing.models.tenants import Tenant

E164_MAX_DIGITS = validators.E164_MAX_DIGITS
validate_e164 = validators.validate_e164


class LnpRule(TimestampedModel):
    """Calls to these numbers look the called number up in the portability database."""

    tenant = models.ForeignKey(
        Tenant,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="lnp_rules",
        help_text="Only this tenant's outbound calls. Empty: every outbound call.",
    )
    prefix = models.CharField(
        "called number prefix",
        max_length=validators.PREFIX_MAX_LENGTH,
        blank=True,
        validators=[validators.validate_prefix],
        help_text="E.164 digits without '+' (e.g. 1 for North America). Empty: every number.",
    )
    enabled = models.BooleanField(default=True)
    description = models.CharField(max_length=200, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["tenant__name", "prefix"]
        verbose_name = "LNP rule"
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "prefix"],
                condition=models.Q(tenant__isnull=False),
                name="routing_lnprule_unique_tenant_prefix",
            ),
            models.UniqueConstraint(
                fields=["prefix"],
                condition=models.Q(tenant__isnull=True),
                name="routing_lnprule_unique_global_prefix",
            ),
            models.CheckConstraint(
                condition=models.Q(prefix__regex=r"^[0-9]*$"),
                name="routing_lnprule_prefix_digits",
            ),
        ]

    def __str__(self) -> str:
        scope = str(self.tenant) if self.tenant_id is not None else "global"
        return f"LNP {scope} {self.prefix or '(every number)'}"

    @property
    def label(self) -> str:
        scope = f"tenant {self.tenant}" if self.tenant_id is not None else "global"
        return f"LNP rule #{self.pk} ({scope}, prefix {self.prefix or '(any)'})"


class PortedNumber(models.Model):
    """One ported number and its routing number (no per-row history: the module doc)."""

    number = models.CharField(
        max_length=E164_MAX_DIGITS,
        unique=True,
        validators=[validate_e164],
        help_text="The ported number, E.164 digits without '+', e.g. 12025331234.",
    )
    lrn = models.CharField(
        "routing number (LRN)",
        max_length=E164_MAX_DIGITS,
        validators=[validate_e164],
        help_text="Its location routing number, E.164 digits without '+', e.g. 12025440000.",
    )
    effective_from = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the port takes effect; empty: already in effect. Before that, the "
        "number routes as not ported.",
    )

    class Meta:
        ordering = ["number"]
        verbose_name = "ported number"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(number__regex=r"^[1-9][0-9]{0,14}$"),
                name="routing_portednumber_number_e164",
            ),
            models.CheckConstraint(
                condition=models.Q(lrn__regex=r"^[1-9][0-9]{0,14}$"),
                name="routing_portednumber_lrn_e164",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.number}: LRN {self.lrn}"


__all__ = ["E164_MAX_DIGITS", "LnpRule", "PortedNumber", "validate_e164"]
