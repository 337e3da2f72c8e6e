"""Number normalization: numbers as a peer writes them <-> E.164 digits."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from simple_history.models import HistoricalRecords

from routing import validators
from routing.engine.numbers import NumberRule, RuleError
from routing.models.base import TimestampedModel
from routing.models.carriers import Carrier
from routing.models.tenants import Pbx

STRIP_MAX = 20


class Direction(models.TextChoices):
    INBOUND = "in", "Received from the peer → E.164"
    OUTBOUND = "out", "E.164 → sent to the peer"


class NumberField(models.TextChoices):
    BOTH = "both", "Called and calling numbers"
    CALLEE = "callee", "Called number only"
    CALLER = "caller", "Calling number only"


class RuleKind(models.TextChoices):
    PREFIX = "prefix", "Strip digits / add a prefix"
    REGEX = "regex", "Regular expression"


class NormalizationRule(TimestampedModel):
    """How a carrier or PBX writes numbers; the first matching rule (by priority) applies."""

    carrier = models.ForeignKey(
        Carrier,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="normalization_rules",
    )
    pbx = models.ForeignKey(
        Pbx,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="normalization_rules",
        verbose_name="PBX",
    )
    direction = models.CharField(max_length=3, choices=Direction.choices)
    applies_to = models.CharField(
        max_length=6, choices=NumberField.choices, default=NumberField.BOTH
    )
    priority = models.PositiveSmallIntegerField(
        default=100,
        validators=[MinValueValidator(0), MaxValueValidator(1000)],
        help_text="Rules are tried from the lowest number; the first that matches applies.",
    )
    kind = models.CharField(max_length=6, choices=RuleKind.choices, default=RuleKind.PREFIX)
    match_prefix = models.CharField(
        max_length=20,
        blank=True,
        validators=[validators.validate_prefix],
        help_text="Strip/prefix rules: only numbers starting with these digits (empty: all).",
    )
    strip = models.PositiveSmallIntegerField(
        default=0,
        validators=[MaxValueValidator(STRIP_MAX)],
        help_text="Strip/prefix rules: digits removed from the front.",
    )
    add_prefix = models.CharField(
        max_length=20,
        blank=True,
        validators=[validators.validate_dial_prefix],
        help_text="Strip/prefix rules: digits added in front after stripping.",
    )
    pattern = models.CharField(
        max_length=200,
        blank=True,
        validators=[validators.validate_regex],
        help_text=r"Regex rules: a regular expression the whole number must match, e.g. "
        r"^0(\d{9})$ (RE2: Python's syntax without backreferences or lookarounds).",
    )
    replacement = models.CharField(
        max_length=200,
        blank=True,
        help_text=r"Regex rules: the result, with \1 for the first group, e.g. 33\1.",
    )
    example_input = models.CharField(
        max_length=32,
        blank=True,
        help_text="Optional test: a number this rule must transform into the expected result.",
    )
    example_output = models.CharField(max_length=32, blank=True)
    enabled = models.BooleanField(default=True)
    description = models.CharField(max_length=200, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["direction", "priority", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(carrier__isnull=False) & models.Q(pbx__isnull=True))
                | (models.Q(carrier__isnull=True) & models.Q(pbx__isnull=False)),
                name="routing_normalizationrule_one_owner",
                violation_error_message="Choose exactly one owner: a carrier or a PBX.",
            ),
            models.CheckConstraint(
                condition=models.Q(direction__in=Direction.values),
                name="routing_normalizationrule_direction_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(priority__lte=1000),
                name="routing_normalizationrule_priority_range",
            ),
            models.CheckConstraint(
                condition=models.Q(strip__lte=STRIP_MAX),
                name="routing_normalizationrule_strip_range",
            ),
            # A regex rule has a pattern; a prefix rule changes something.
            models.CheckConstraint(
                condition=(models.Q(kind=RuleKind.REGEX) & ~models.Q(pattern=""))
                | (
                    models.Q(kind=RuleKind.PREFIX)
                    & (models.Q(strip__gt=0) | ~models.Q(add_prefix=""))
                ),
                name="routing_normalizationrule_kind_complete",
            ),
        ]

    def __str__(self) -> str:
        if self.kind == RuleKind.REGEX:
            body = f"{self.pattern} → {self.replacement}"
        else:
            body = f"{self.match_prefix or '*'}: -{self.strip} +{self.add_prefix or '∅'}"
        return f"{self.get_direction_display()} [{self.priority}] {body}"

    def as_engine_rule(self) -> NumberRule:
        return NumberRule(
            priority=self.priority,
            applies_to=self.applies_to,
            pattern=self.pattern if self.kind == RuleKind.REGEX else None,
            replacement=self.replacement,
            match_prefix=self.match_prefix,
            strip=self.strip,
            add_prefix=self.add_prefix,
        )

    def engine_problem(self) -> str | None:
        """Why the routing table must leave this rule out (the engine cannot run it), or
        None. The validators refuse such a rule; one can still come from before an
        upgrade, a fixture or SQL, and the loader then leaves it out (see routing.loader)."""
        try:
            self.as_engine_rule()
        except RuleError as exc:
            return exc.reason
        return None

    def clean(self) -> None:
        # The owner rule is the one_owner constraint, which full_clean() validates.
        errors: dict[str, str | list[str]] = {}
        if self.kind == RuleKind.REGEX:
            if not self.pattern:
                errors["pattern"] = "A regex rule needs a pattern."
            else:
                try:
                    validators.validate_replacement(self.pattern, self.replacement)
                except ValidationError as exc:
                    errors["replacement"] = exc.messages
        elif self.strip == 0 and not self.add_prefix:
            errors["add_prefix"] = "Strip some digits or add a prefix: this rule changes nothing."
        if bool(self.example_input) != bool(self.example_output):
            errors["example_output"] = "Give both the example number and the expected result."
        elif self.example_input and not errors:
            try:
                result = self.as_engine_rule().apply(self.example_input)
            except RuleError:
                pass  # the pattern's validator has said why
            else:
                if result != self.example_output:
                    shown = "no match" if result is None else f"'{result}'"
                    errors["example_output"] = (
                        f"The rule turns '{self.example_input}' into {shown}, "
                        f"not '{self.example_output}'."
                    )
        if errors:
            raise ValidationError(errors)
