"""Carrier health: how gateways are probed and demoted, and what the probes found.

A HealthPolicy says how to probe (SIP OPTIONS every `probe_interval` seconds; down after
`down_after` failed probes in a row, up after `up_after` good ones; which reply codes
count as alive), what an answer does with a gateway that is down (skip it, or put it
last), and when its failure rate demotes it (passive). A carrier names its policy, a
gateway may name another one (its override); no policy: not probed, never demoted.

GatewayHealth is the state Kamailio reported (POST /kamailio/health), one row per gateway,
and GatewayHealthEvent its history. Their writer (routing.carrier_health) bumps the health
version: every worker swaps the new health rows into its table at its next poll.
"""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from simple_history.models import HistoricalRecords

from routing import validators
from routing.models.base import TimestampedModel

PROBE_INTERVAL_RANGE = (1, 3600)
THRESHOLD_RANGE = (1, 100)
WINDOW_RANGE = (10, 86_400)
MIN_ATTEMPTS_RANGE = (1, 100_000)
REASON_MAX = 200


class DownPolicy(models.TextChoices):
    SKIP = "skip", "skip the gateway"
    LAST = "last", "try the gateway last"


class HealthState(models.TextChoices):
    UP = "up", "up"
    DOWN = "down", "down"
    OFF = "off", "probing off"


class HealthPolicy(TimestampedModel):
    """How a carrier's (or one gateway's) health is watched and what it does to answers."""

    name = models.CharField(max_length=100, unique=True)
    probing = models.BooleanField(
        default=True, help_text="Send SIP OPTIONS to the gateways and follow their answers."
    )
    probe_interval = models.PositiveIntegerField(
        "probe interval (s)",
        default=10,
        validators=[
            MinValueValidator(PROBE_INTERVAL_RANGE[0]),
            MaxValueValidator(PROBE_INTERVAL_RANGE[1]),
        ],
        help_text="Seconds between two OPTIONS to a gateway (1-3600).",
    )
    down_after = models.PositiveSmallIntegerField(
        default=3,
        validators=[MinValueValidator(THRESHOLD_RANGE[0]), MaxValueValidator(THRESHOLD_RANGE[1])],
        help_text="Failed probes in a row (no answer, or a code not alive) to mark it down.",
    )
    up_after = models.PositiveSmallIntegerField(
        default=2,
        validators=[MinValueValidator(THRESHOLD_RANGE[0]), MaxValueValidator(THRESHOLD_RANGE[1])],
        help_text="Good probes in a row to mark a down gateway up again.",
    )
    alive_codes = models.CharField(
        max_length=200,
        default="200",
        validators=[validators.validate_reply_codes],
        help_text="Reply codes to OPTIONS that mean alive, comma-separated (e.g. '200,404,405'"
        ": some carriers refuse OPTIONS yet answer calls).",
    )
    down_policy = models.CharField(
        max_length=4,
        choices=DownPolicy.choices,
        default=DownPolicy.SKIP,
        help_text="What an answer does with a gateway that is down. Whatever the choice, "
        "a call whose every gateway is down still gets them (last): no call is refused "
        "for health alone.",
    )
    demote = models.BooleanField(
        "passive demotion",
        default=False,
        help_text="Skip a gateway with a probability growing with its failure rate.",
    )
    demote_codes = models.CharField(
        max_length=200,
        default="408,500,502,503,504",
        validators=[validators.validate_sip_codes],
        help_text="Final codes that count as failures (a local timeout is 408).",
    )
    demote_window = models.PositiveIntegerField(
        "window (s)",
        default=60,
        validators=[MinValueValidator(WINDOW_RANGE[0]), MaxValueValidator(WINDOW_RANGE[1])],
        help_text="The sliding window the failure rate is taken over, in seconds.",
    )
    demote_min_attempts = models.PositiveIntegerField(
        "minimum attempts",
        default=20,
        validators=[
            MinValueValidator(MIN_ATTEMPTS_RANGE[0]),
            MaxValueValidator(MIN_ATTEMPTS_RANGE[1]),
        ],
        help_text="No demotion below this many attempts in the window.",
    )
    demote_start = models.PositiveSmallIntegerField(
        "start (%)",
        default=30,
        validators=[MaxValueValidator(100)],
        help_text="Failure share (%) where skipping starts (probability 0).",
    )
    demote_end = models.PositiveSmallIntegerField(
        "end (%)",
        default=80,
        validators=[MaxValueValidator(100)],
        help_text="Failure share (%) where the gateway is always skipped. Above start.",
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "health policies"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(
                    probe_interval__gte=PROBE_INTERVAL_RANGE[0],
                    probe_interval__lte=PROBE_INTERVAL_RANGE[1],
                ),
                name="routing_healthpolicy_interval_range",
            ),
            models.CheckConstraint(
                condition=models.Q(
                    down_after__gte=THRESHOLD_RANGE[0],
                    down_after__lte=THRESHOLD_RANGE[1],
                    up_after__gte=THRESHOLD_RANGE[0],
                    up_after__lte=THRESHOLD_RANGE[1],
                ),
                name="routing_healthpolicy_threshold_range",
            ),
            models.CheckConstraint(
                condition=models.Q(down_policy__in=DownPolicy.values),
                name="routing_healthpolicy_down_policy",
            ),
            models.CheckConstraint(
                condition=models.Q(
                    demote_window__gte=WINDOW_RANGE[0], demote_window__lte=WINDOW_RANGE[1]
                ),
                name="routing_healthpolicy_window_range",
            ),
            models.CheckConstraint(
                condition=models.Q(
                    demote_min_attempts__gte=MIN_ATTEMPTS_RANGE[0],
                    demote_min_attempts__lte=MIN_ATTEMPTS_RANGE[1],
                ),
                name="routing_healthpolicy_min_attempts_range",
            ),
            models.CheckConstraint(
                condition=models.Q(demote_end__lte=100, demote_start__lt=models.F("demote_end")),
                name="routing_healthpolicy_demote_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        super().clean()
        from django.core.exceptions import ValidationError

        if (
            self.demote_start is not None
            and self.demote_end is not None
            and self.demote_start >= self.demote_end
        ):
            raise ValidationError(
                {"demote_end": "The end threshold must be above the start threshold."},
                code="demote_range",
            )

    @property
    def alive_code_list(self) -> list[int]:
        return validators.parse_reply_codes(self.alive_codes)

    @property
    def demote_code_list(self) -> list[int]:
        return validators.parse_sip_codes(self.demote_codes)


class GatewayHealth(models.Model):
    """A gateway's state as its probes last found it (one row per gateway)."""

    gateway = models.OneToOneField(
        "routing.Gateway", on_delete=models.CASCADE, related_name="health", primary_key=True
    )
    state = models.CharField(max_length=4, choices=HealthState.choices, default=HealthState.UP)
    since = models.DateTimeField(default=timezone.now)
    reason = models.CharField(
        max_length=REASON_MAX, blank=True, validators=[validators.validate_no_control_characters]
    )
    reported_by = models.CharField(max_length=50, blank=True)
    # Passive demotion (written by `manage.py health_demote` from the call records): the
    # probability of skipping the gateway in an answer, and the figures behind it.
    skip_probability = models.FloatField(default=0.0)
    window_attempts = models.PositiveIntegerField(default=0)
    window_failures = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name_plural = "gateway health"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(state__in=HealthState.values),
                name="routing_gatewayhealth_state",
            ),
            models.CheckConstraint(
                condition=models.Q(skip_probability__gte=0.0, skip_probability__lte=1.0),
                name="routing_gatewayhealth_probability_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.gateway_id}: {self.state} since {self.since:%Y-%m-%d %H:%M:%S}"


class GatewayHealthEvent(models.Model):
    """One change of a gateway's state: the history behind GatewayHealth."""

    gateway = models.ForeignKey(
        "routing.Gateway", on_delete=models.CASCADE, related_name="health_events"
    )
    at = models.DateTimeField(default=timezone.now)
    state = models.CharField(max_length=4, choices=HealthState.choices)
    reason = models.CharField(
        max_length=REASON_MAX, blank=True, validators=[validators.validate_no_control_characters]
    )
    reported_by = models.CharField(max_length=50, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["gateway", "-at"], name="routing_healthevent_gw_at")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(state__in=HealthState.values),
                name="routing_gatewayhealthevent_state",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.gateway_id}: {self.state} at {self.at:%Y-%m-%d %H:%M:%S}"
