"""Outbound route rules and their ordered targets."""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from simple_history.models import HistoricalRecords

from routing import validators
from routing.models.base import TimestampedModel
from routing.models.carriers import WEIGHT_RANGE, Carrier, Gateway
from routing.models.tenants import Tenant

PRIORITY_RANGE = (0, 1000)
ORDER_RANGE = (0, 99)
REJECT_CODE_RANGE = validators.REFUSAL_CODE_RANGE  # a SIP final failure: 4xx, 5xx or 6xx


class RuleAction(models.TextChoices):
    ROUTE = "route", "Route the calls to the targets"
    REJECT = "reject", "Reject the calls with a SIP code"


class RuleMode(models.TextChoices):
    PRIORITY = "priority", "Priority: targets in their order, by weight"
    LCR = "lcr", "Least cost: carriers by their rate for the number"
    LCR_BAND = "lcr_band", "Least cost, banded: rates within a percentage count as equal"


BAND_RANGE = (Decimal("0.01"), Decimal(100))


class RouteRule(TimestampedModel):
    """Where outbound calls to numbers starting with a prefix go, in failover order.

    Among the enabled rules that match a call (the caller's tenant's and the global ones) the
    router picks: the longest destination prefix, then the longest caller prefix, then a rule
    whose time window is open now over an always-open one, then the tenant's own over a
    global one, then the lowest priority number.
    """

    name = models.CharField(max_length=100, blank=True)
    tenant = models.ForeignKey(
        Tenant,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="route_rules",
        help_text="Empty: a global rule, used by every tenant.",
    )
    prefix = models.CharField(
        "destination prefix",
        max_length=20,
        blank=True,
        validators=[validators.validate_prefix],
        help_text="E.164 digits the called number starts with (e.g. 3361). "
        "Empty: the default route.",
    )
    caller_prefix = models.CharField(
        max_length=20,
        blank=True,
        validators=[validators.validate_prefix],
        help_text="Only for callers whose E.164 number starts with these digits. "
        "Empty: any caller.",
    )
    priority = models.PositiveSmallIntegerField(
        default=100,
        validators=[MinValueValidator(PRIORITY_RANGE[0]), MaxValueValidator(PRIORITY_RANGE[1])],
        help_text="Lower wins between otherwise equal rules (0-1000).",
    )
    enabled = models.BooleanField(default=True)
    action = models.CharField(
        max_length=6,
        choices=RuleAction.choices,
        default=RuleAction.ROUTE,
        # Also the database's default: rows written in SQL (bench data, COPY) route.
        db_default=RuleAction.ROUTE,
        help_text="Route: the calls go to the targets (at least one). Reject: the router "
        "answers the calls with the SIP code and reason below (a deliberate block), and the "
        "rule has no targets.",
    )
    reject_code = models.PositiveSmallIntegerField(
        "reject with SIP code",
        null=True,
        blank=True,
        validators=[
            MinValueValidator(REJECT_CODE_RANGE[0]),
            MaxValueValidator(REJECT_CODE_RANGE[1]),
        ],
        help_text="For a rule that rejects: 400-699, e.g. 403 (Forbidden), 404 (Not Found), "
        "480 (Temporarily Unavailable), 503 (Service Unavailable), 603 (Decline).",
    )
    reject_reason = models.CharField(
        "reject with reason",
        max_length=validators.REASON_PHRASE_MAX,
        blank=True,
        default="",  # (with db_default alone, a new object holds a DatabaseDefault)
        db_default="",
        validators=[validators.validate_reason_phrase],
        help_text="For a rule that rejects: the reason phrase sent with the code, e.g. Forbidden.",
    )
    mode = models.CharField(
        max_length=8,
        choices=RuleMode.choices,
        default=RuleMode.PRIORITY,
        db_default=RuleMode.PRIORITY,
        help_text="Priority: the targets in their order. Least cost: the carriers among the "
        "targets ordered by their rate for the called number (ties: order, then weight); a "
        "carrier with no rate is left out, and so is one costing more than the tenant pays.",
    )
    band_percent = models.DecimalField(
        "band (%)",
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(BAND_RANGE[0]), MaxValueValidator(BAND_RANGE[1])],
        help_text="Least cost, banded: carriers whose rates lie within this percentage of "
        "the cheapest count as equal (ordered by order, then weight).",
    )
    weekdays = models.CharField(
        max_length=7,
        blank=True,
        validators=[validators.validate_weekdays],
        help_text="Days the rule applies, as digits Monday=1 ... Sunday=7 (12345 = weekdays). "
        "Empty: every day.",
    )
    start_time = models.TimeField(
        null=True, blank=True, help_text="Start of the daily window (local time of the time zone)."
    )
    end_time = models.TimeField(
        null=True,
        blank=True,
        help_text="End of the daily window, excluded. May be before the start to span midnight.",
    )
    timezone = models.CharField(
        max_length=64,
        default="UTC",
        validators=[validators.validate_timezone],
        help_text="IANA time zone of the window, e.g. Europe/Paris.",
    )
    caller_id = models.CharField(
        max_length=20,
        blank=True,
        validators=[validators.validate_digits],
        help_text="Present this E.164 number as the caller instead of the real one.",
    )
    from_display = models.CharField(
        max_length=64,
        blank=True,
        validators=[validators.validate_display_name],
        help_text="Display name in the From header. Empty: keep the caller's.",
    )
    extra_headers = models.TextField(
        blank=True,
        validators=[validators.validate_header_lines],
        help_text="Header lines added to calls routed by this rule, one per line.",
    )
    description = models.TextField(blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["prefix", "caller_prefix", "priority", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(
                    priority__gte=PRIORITY_RANGE[0], priority__lte=PRIORITY_RANGE[1]
                ),
                name="routing_routerule_priority_range",
            ),
            # A rule routes (no reject code or reason) or rejects with a failure code and a
            # reason; whether a routing rule has targets is checked where they are written.
            models.CheckConstraint(
                condition=(
                    models.Q(action=RuleAction.ROUTE)
                    & models.Q(reject_code__isnull=True)
                    & models.Q(reject_reason="")
                )
                | (
                    models.Q(action=RuleAction.REJECT)
                    & models.Q(reject_code__isnull=False)  # (a CHECK passes on NULL)
                    & models.Q(
                        reject_code__gte=REJECT_CODE_RANGE[0],
                        reject_code__lte=REJECT_CODE_RANGE[1],
                    )
                    & ~models.Q(reject_reason="")
                ),
                name="routing_routerule_action_valid",
            ),
            # A banded least-cost rule has its band; the other modes none.
            models.CheckConstraint(
                condition=(
                    models.Q(mode=RuleMode.LCR_BAND)
                    & models.Q(band_percent__isnull=False)
                    & models.Q(band_percent__gte=BAND_RANGE[0], band_percent__lte=BAND_RANGE[1])
                )
                | (
                    models.Q(mode__in=[RuleMode.PRIORITY, RuleMode.LCR])
                    & models.Q(band_percent__isnull=True)
                ),
                name="routing_routerule_mode_valid",
            ),
            # A window has both ends or none, and they differ (an empty window never opens).
            models.CheckConstraint(
                condition=(models.Q(start_time__isnull=True) & models.Q(end_time__isnull=True))
                | (
                    models.Q(start_time__isnull=False)
                    & models.Q(end_time__isnull=False)
                    & ~models.Q(start_time=models.F("end_time"))
                ),
                name="routing_routerule_window_valid",
            ),
        ]
        indexes = [
            # Admin and API filter by prefix start (prefix__startswith uses it).
            models.Index(fields=["prefix"], name="routing_routerule_prefix"),
        ]

    def __str__(self) -> str:
        label = self.name or f"{self.prefix or 'default'}"
        scope = self.tenant.name if self.tenant_id else "global"
        return f"{label} [{scope}]"

    @property
    def has_window(self) -> bool:
        return bool(self.weekdays) or self.start_time is not None

    @property
    def rejects(self) -> bool:
        return self.action == RuleAction.REJECT

    def clean(self) -> None:
        if self.action == RuleAction.REJECT:
            missing = {}
            if self.reject_code is None:
                missing["reject_code"] = "A rule that rejects needs the SIP code to answer."
            if not self.reject_reason:
                missing["reject_reason"] = "A rule that rejects needs the reason phrase."
            if missing:
                raise ValidationError(missing)
        elif self.reject_code is not None or self.reject_reason:
            field = "reject_code" if self.reject_code is not None else "reject_reason"
            raise ValidationError(
                {
                    field: "Only for a rule that rejects: choose 'reject' as the action, or "
                    "leave the code and reason empty."
                }
            )
        if self.mode == RuleMode.LCR_BAND and self.band_percent is None:
            raise ValidationError(
                {"band_percent": "A banded least-cost rule needs its band (e.g. 5 for 5%)."}
            )
        if self.mode != RuleMode.LCR_BAND and self.band_percent is not None:
            raise ValidationError(
                {"band_percent": "Only for a banded least-cost rule: leave it empty."}
            )
        if (self.start_time is None) != (self.end_time is None):
            raise ValidationError(
                {
                    "end_time"
                    if self.end_time is None
                    else "start_time": "Give both the start and "
                    "the end of the time window, or neither."
                }
            )
        if self.start_time is not None and self.start_time == self.end_time:
            raise ValidationError(
                {"end_time": "The window ends when it starts: it would never open."}
            )


class RouteTarget(models.Model):
    """One step of a rule's failover list: a gateway, or a whole carrier (its gateways)."""

    rule = models.ForeignKey(RouteRule, on_delete=models.CASCADE, related_name="targets")
    order = models.PositiveSmallIntegerField(
        default=0,
        validators=[MinValueValidator(ORDER_RANGE[0]), MaxValueValidator(ORDER_RANGE[1])],
        help_text="Failover order: lower is tried first. Targets with the same order share "
        "calls by weight.",
    )
    carrier = models.ForeignKey(
        Carrier,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="route_targets",
        help_text="A whole carrier: its enabled gateways, shared by their weights.",
    )
    gateway = models.ForeignKey(
        Gateway,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="route_targets",
        help_text="Or one gateway.",
    )
    weight = models.PositiveIntegerField(
        default=100,
        validators=[MinValueValidator(WEIGHT_RANGE[0]), MaxValueValidator(WEIGHT_RANGE[1])],
        help_text="Share of calls among targets with the same order (1-1000).",
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["rule", "order", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(carrier__isnull=False) & models.Q(gateway__isnull=True))
                | (models.Q(carrier__isnull=True) & models.Q(gateway__isnull=False)),
                name="routing_routetarget_one_destination",
                violation_error_message="Choose exactly one destination: a carrier or a gateway.",
            ),
            models.CheckConstraint(
                condition=models.Q(order__gte=ORDER_RANGE[0], order__lte=ORDER_RANGE[1]),
                name="routing_routetarget_order_range",
            ),
            models.CheckConstraint(
                condition=models.Q(weight__gte=WEIGHT_RANGE[0], weight__lte=WEIGHT_RANGE[1]),
                name="routing_routetarget_weight_range",
            ),
            models.UniqueConstraint(
                fields=["rule", "carrier"],
                condition=models.Q(carrier__isnull=False),
                name="routing_routetarget_unique_carrier",
            ),
            models.UniqueConstraint(
                fields=["rule", "gateway"],
                condition=models.Q(gateway__isnull=False),
                name="routing_routetarget_unique_gateway",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.order}: {self.gateway or self.carrier}"
