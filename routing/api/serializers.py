"""Serializers of the configuration API: one per routing model, fields listed explicitly.

Validation is the model's, not a second copy of it: every serializer builds the instance the
request describes and calls its full_clean() (field validators, clean(), unique checks and
constraints), so the API refuses bad input with the admin's own words. DRF's own unique
validators are dropped for that reason, and the few messages DRF words differently from a
Django form (max length, choices, missing value) are set to the form's.
"""

from __future__ import annotations

from typing import Any

from django.core import validators as django_validators
from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import ProhibitNullCharactersValidator
from django.db import models
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.settings import api_settings
from rest_framework.validators import UniqueValidator

from routing.api import services
from routing.models import (
    CallRecord,
    Carrier,
    Did,
    Domain,
    ExchangeRate,
    Gateway,
    GatewayHealth,
    HealthPolicy,
    IpSource,
    ListenTransport,
    LnpRule,
    NormalizationRule,
    NumberList,
    NumberListEntry,
    Pbx,
    PortedNumber,
    Rate,
    RateDeck,
    RouterInstance,
    RouteRule,
    RouteTarget,
    RuleAction,
    Tenant,
)
from routing.validators import validate_no_control_characters

# Django form wording, so that the API and the admin say the same thing.
FORM_MESSAGES = {
    "required": "This field is required.",
    "blank": "This field is required.",
    "null": "This field is required.",
    "invalid_choice": "Select a valid choice. {input} is not one of the available choices.",
}
INTEGER_MESSAGES = {"invalid": "Enter a whole number."}
TIME_MESSAGES = {"invalid": "Enter a valid time."}
RELATED_MESSAGES = {
    "required": "This field is required.",
    "null": "This field is required.",
    "does_not_exist": "Select a valid choice. That choice is not one of the available choices.",
    "incorrect_type": "Select a valid choice. That choice is not one of the available choices.",
}


def django_errors_to_drf(exc: DjangoValidationError) -> dict[str, list[str]]:
    """A model ValidationError as DRF's field -> messages mapping."""
    if not hasattr(exc, "error_dict"):
        return {api_settings.NON_FIELD_ERRORS_KEY: list(exc.messages)}
    errors: dict[str, list[str]] = {}
    for field, messages in exc.message_dict.items():
        key = api_settings.NON_FIELD_ERRORS_KEY if field == NON_FIELD_ERRORS else field
        errors.setdefault(key, []).extend(messages)
    return errors


class MaxLengthFirst(django_validators.MaxLengthValidator):
    """The length check, then the model field's validators, as a Django form runs them.

    A form field checks the length first and, when it fails, never runs the model's
    validators: the admin shows one message, "Ensure this value has at most N characters
    (it has M).", and so does the API. (A MaxLengthValidator still, so that drf-spectacular
    documents maxLength.)
    """

    def __init__(self, limit_value: int, then: list[Any]) -> None:
        super().__init__(limit_value)
        self.then = then

    def __call__(self, value: Any) -> None:
        super().__call__(value)
        errors: list[DjangoValidationError] = []
        for validator in self.then:
            try:
                validator(value)
            except DjangoValidationError as exc:
                errors.extend(exc.error_list)
        if errors:
            raise DjangoValidationError(errors)

    def __eq__(self, other: object) -> bool:
        return super().__eq__(other) and self.then == getattr(other, "then", None)

    __hash__ = None  # type: ignore[assignment]


class ModelCleanSerializer(serializers.ModelSerializer):
    """A ModelSerializer validated by the model's full_clean()."""

    # Model fields full_clean() must not look at (set by a parent serializer, for example).
    clean_exclude: tuple[str, ...] = ()

    def build_standard_field(
        self, field_name: str, model_field: models.Field
    ) -> tuple[type[serializers.Field], dict[str, Any]]:
        field_class, kwargs = super().build_standard_field(field_name, model_field)
        validators = [v for v in kwargs.get("validators", []) if not isinstance(v, UniqueValidator)]
        if isinstance(model_field, models.SlugField):
            # DRF's SlugField words its error differently from Django's validate_slug.
            field_class = serializers.CharField
            kwargs.pop("allow_unicode", None)
            validators.append(django_validators.validate_slug)
        # The model's default as the form's initial value: the browsable API's forms show
        # "enabled" on, priority 100... as the admin does (DRF starts a boolean off).
        if model_field.has_default() and not callable(model_field.default):
            kwargs.setdefault("initial", model_field.default)
        max_length = kwargs.pop("max_length", None)
        if max_length is not None:
            validators = [MaxLengthFirst(max_length, validators)]
        kwargs["validators"] = validators
        messages = dict(FORM_MESSAGES)
        if issubclass(field_class, serializers.IntegerField):
            messages.update(INTEGER_MESSAGES)
        elif issubclass(field_class, serializers.TimeField):
            messages.update(TIME_MESSAGES)
        kwargs["error_messages"] = {**messages, **kwargs.get("error_messages", {})}
        return field_class, kwargs

    def build_relational_field(
        self, field_name: str, relation_info: Any
    ) -> tuple[type[serializers.Field], dict[str, Any]]:
        field_class, kwargs = super().build_relational_field(field_name, relation_info)
        kwargs["error_messages"] = {**RELATED_MESSAGES, **kwargs.get("error_messages", {})}
        return field_class, kwargs

    def get_validators(self) -> list[Any]:
        # No UniqueTogetherValidator: full_clean() checks the constraints with Django's words.
        return []

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        for field in fields.values():
            if isinstance(field, serializers.CharField):
                # Every text field, one way: no NUL or other control character but tabs and
                # line breaks (validators.validate_no_control_characters, as for a CSV cell).
                # It covers DRF's own NUL check, whose second message it would only repeat.
                field.validators = [
                    validator
                    for validator in field.validators
                    if not isinstance(validator, ProhibitNullCharactersValidator)
                ] + [validate_no_control_characters]
        return fields

    def model_instance(self, attrs: dict[str, Any]) -> models.Model:
        """The instance as it would be saved: the current one with attrs applied."""
        model = self.Meta.model
        concrete = [f for f in model._meta.concrete_fields]
        if self.instance is not None:
            # A fresh object, not a copy: copies share the related-object cache.
            instance = model.from_db(
                self.instance._state.db,
                [f.attname for f in concrete],
                [getattr(self.instance, f.attname) for f in concrete],
            )
        else:
            instance = model()
        names = {f.name for f in concrete}
        for name, value in attrs.items():
            if name in names:
                setattr(instance, name, value)
        return instance

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        instance = self.model_instance(attrs)
        try:
            instance.full_clean(exclude=list(self.clean_exclude))
        except DjangoValidationError as exc:
            raise serializers.ValidationError(django_errors_to_drf(exc)) from None
        # clean() may normalise what it was given (a CIDR, a domain name): keep its result.
        for name in list(attrs):
            if hasattr(instance, name) and name not in self.nested_fields():
                attrs[name] = getattr(instance, name)
        return attrs

    def nested_fields(self) -> set[str]:
        return {
            name
            for name, field in self.fields.items()
            if isinstance(field, serializers.BaseSerializer)
        }


class DisplayMixin(serializers.Serializer):
    display = serializers.SerializerMethodField(help_text="How the admin names this object.")

    def get_display(self, obj: models.Model) -> str:
        return str(obj)


TIMESTAMPS = ["created_at", "updated_at"]
# Capacity limits (routing.models.base.CapacityLimits): null = no limit.
LIMITS = ["max_calls", "max_cps"]
ENDPOINT_FIELDS = [
    "host",
    "port",
    "transport",
    "socket",
    "enabled",
    "fr_timer",
    "fr_inv_timer",
]


class TenantSerializer(DisplayMixin, ModelCleanSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="routing-api:tenant-detail")

    class Meta:
        model = Tenant
        fields = [
            "id", "url", "display", "name", "enabled", "description", *LIMITS,
            "min_margin_percent", "no_profit_code", "no_profit_reason", "pricing", "markup",
            "pricing_currency", *TIMESTAMPS,
        ]  # fmt: skip


class DomainSerializer(DisplayMixin, ModelCleanSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="routing-api:domain-detail")

    class Meta:
        model = Domain
        fields = ["id", "url", "display", "tenant", "name", "pbx", "enabled", *TIMESTAMPS]


class PbxSerializer(DisplayMixin, ModelCleanSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="routing-api:pbx-detail")

    class Meta:
        model = Pbx
        fields = ["id", "url", "display", "tenant", "name", *ENDPOINT_FIELDS, *LIMITS, *TIMESTAMPS]


class CarrierSerializer(DisplayMixin, ModelCleanSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="routing-api:carrier-detail")

    class Meta:
        model = Carrier
        fields = [
            "id",
            "url",
            "display",
            "name",
            "enabled",
            "from_domain",
            "send_pai",
            "send_rn",
            "extra_headers",
            "description",
            *LIMITS,
            "health_policy",
            *TIMESTAMPS,
        ]


class GatewayHealthSerializer(serializers.ModelSerializer):
    """What the probes and the call records say about a gateway (read-only: Kamailio's
    reports at POST /kamailio/health and the demotion count write it)."""

    class Meta:
        model = GatewayHealth
        fields = ["state", "since", "reason", "reported_by", "skip_probability",
                  "window_attempts", "window_failures"]  # fmt: skip
        read_only_fields = fields


class GatewaySerializer(DisplayMixin, ModelCleanSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="routing-api:gateway-detail")
    health = GatewayHealthSerializer(read_only=True, allow_null=True)

    class Meta:
        model = Gateway
        fields = [
            "id",
            "url",
            "display",
            "carrier",
            "name",
            *ENDPOINT_FIELDS,
            "weight",
            "strip",
            "prefix",
            *LIMITS,
            "health_policy",
            "health",
            *TIMESTAMPS,
        ]


class IpSourceSerializer(DisplayMixin, ModelCleanSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="routing-api:ipsource-detail")

    class Meta:
        model = IpSource
        fields = [
            "id",
            "url",
            "display",
            "cidr",
            "carrier",
            "pbx",
            "enabled",
            "description",
            *LIMITS,
            *TIMESTAMPS,
        ]


class DidSerializer(DisplayMixin, ModelCleanSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="routing-api:did-detail")

    class Meta:
        model = Did
        fields = [
            "id",
            "url",
            "display",
            "tenant",
            "pbx",
            "number",
            "match",
            "range_end",
            "enabled",
            "description",
            *TIMESTAMPS,
        ]


class RouteTargetSerializer(ModelCleanSerializer):
    """One target of a rule, written only through its rule."""

    clean_exclude = ("rule",)

    class Meta:
        model = RouteTarget
        fields = ["id", "order", "carrier", "gateway", "weight"]
        extra_kwargs = {
            "order": {
                "help_text": "Failover order, lower first; targets with the same order share "
                "calls by weight. Omitted: the target's position in the list."
            }
        }


class RouteRuleSerializer(DisplayMixin, ModelCleanSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="routing-api:routerule-detail")
    targets = RouteTargetSerializer(
        many=True,
        required=False,
        help_text="The rule's failover list. Writing it replaces the whole list at once "
        "(omit it in a PATCH to keep the current one).",
    )

    class Meta:
        model = RouteRule
        fields = [
            "id",
            "url",
            "display",
            "name",
            "tenant",
            "prefix",
            "caller_prefix",
            "priority",
            "enabled",
            "action",
            "reject_code",
            "reject_reason",
            "weekdays",
            "start_time",
            "end_time",
            "timezone",
            "caller_id",
            "from_display",
            "extra_headers",
            "description",
            "mode",
            "band_percent",
            "targets",
            *TIMESTAMPS,
        ]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        # A rule routes (at least one target) or rejects (none): the rule as it will be, its
        # targets the ones sent, or the current ones when a PATCH leaves them out.
        rule = self.model_instance(attrs)
        if "targets" in attrs:
            has_targets = bool(attrs["targets"])
        else:
            has_targets = self.instance is not None and self.instance.targets.exists()
        if rule.action == RuleAction.ROUTE and not has_targets:
            raise serializers.ValidationError(
                {
                    "targets": [
                        "A rule that routes needs at least one target. To refuse these calls "
                        "on purpose, set action to 'reject' with a reject_code and "
                        "reject_reason."
                    ]
                }
            )
        if rule.action == RuleAction.REJECT and has_targets:
            raise serializers.ValidationError(
                {
                    "targets": [
                        "A rule that rejects its calls has no targets: send an empty list, or "
                        "set action to 'route'."
                    ]
                }
            )
        return attrs

    def validate_targets(self, targets: list[dict[str, Any]]) -> list[dict[str, Any]]:
        # Errors keyed by the target's index, as DRF reports a nested list's own errors.
        errors: dict[int, dict[str, list[str]]] = {}
        seen: set[tuple[str, int]] = set()
        for position, target in enumerate(targets):
            target.setdefault("order", position)
            for kind in ("carrier", "gateway"):
                obj = target.get(kind)
                if obj is None:
                    continue
                if (kind, obj.pk) in seen:
                    errors.setdefault(position, {})[kind] = [
                        f"This {kind} is already a target of this rule."
                    ]
                seen.add((kind, obj.pk))
        if errors:
            raise serializers.ValidationError(errors)
        return targets

    def create(self, validated_data: dict[str, Any]) -> RouteRule:
        targets = validated_data.pop("targets", [])
        return services.route_rule_create(data=validated_data, targets=targets)

    def update(self, instance: RouteRule, validated_data: dict[str, Any]) -> RouteRule:
        targets = validated_data.pop("targets", None)
        return services.route_rule_update(rule=instance, data=validated_data, targets=targets)


class NormalizationRuleSerializer(DisplayMixin, ModelCleanSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="routing-api:normalizationrule-detail")

    class Meta:
        model = NormalizationRule
        fields = [
            "id",
            "url",
            "display",
            "carrier",
            "pbx",
            "direction",
            "applies_to",
            "priority",
            "kind",
            "match_prefix",
            "strip",
            "add_prefix",
            "pattern",
            "replacement",
            "example_input",
            "example_output",
            "enabled",
            "description",
            *TIMESTAMPS,
        ]


@extend_schema_field(
    {"type": "string", "pattern": "^(udp|tcp)$", "description": "udp or tcp", "default": "udp"}
)
class ListenTransportField(serializers.ChoiceField):
    """A Kamailio listener's transport, documented as a pattern rather than an enum.

    drf-spectacular names enums after the field: this `transport` (udp, tcp) and the SIP
    endpoints' `transport` (udp, tcp, tls) would collide and warn.
    """


class HealthPolicySerializer(DisplayMixin, ModelCleanSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="routing-api:healthpolicy-detail")

    class Meta:
        model = HealthPolicy
        fields = [
            "id", "url", "display", "name", "probing", "probe_interval", "down_after",
            "up_after", "alive_codes", "down_policy", "demote", "demote_codes",
            "demote_window", "demote_min_attempts", "demote_start", "demote_end", *TIMESTAMPS,
        ]  # fmt: skip


class RouterInstanceSerializer(DisplayMixin, ModelCleanSerializer):
    """A Kamailio instance. Its token is shown only to users who may change instances.

    Whoever may change an instance can set a new token anyway, so showing it to them reveals
    nothing new; a read-only user never sees it (it authenticates Kamailio to the routing
    endpoint).
    """

    url = serializers.HyperlinkedIdentityField(view_name="routing-api:routerinstance-detail")
    transport = ListenTransportField(
        choices=ListenTransport.choices,
        default=ListenTransport.UDP,
        error_messages=FORM_MESSAGES,
    )

    class Meta:
        model = RouterInstance
        fields = [
            "id",
            "url",
            "display",
            "name",
            "listen_ip",
            "listen_port",
            "transport",
            "advertised_address",
            "api_urls",
            "api_timeout_ms",
            "api_breaker_failures",
            "api_breaker_seconds",
            "http_workers",
            "children",
            "fr_timer",
            "fr_inv_timer",
            "failover_codes",
            "token",
            "enabled",
            "description",
            *TIMESTAMPS,
        ]
        extra_kwargs = {
            "token": {
                "required": False,
                "help_text": "Shared secret the instance sends as X-C4-Token (16+ characters; "
                "generated when omitted). Returned only to users who may change instances.",
            }
        }

    def to_representation(self, instance: RouterInstance) -> dict[str, Any]:
        data = super().to_representation(instance)
        request = self.context.get("request")
        if request is None or not request.user.has_perm("routing.change_routerinstance"):
            data.pop("token", None)
        return data


class HistoryChangeSerializer(serializers.Serializer):
    field = serializers.CharField()
    old = serializers.JSONField(allow_null=True)
    new = serializers.JSONField(allow_null=True)


class HistoryRecordSerializer(serializers.Serializer):
    """One audit record: who changed which object, when, and how."""

    id = serializers.IntegerField(help_text="The history record's id.")
    date = serializers.DateTimeField()
    type = serializers.ChoiceField(choices=["created", "changed", "deleted"])
    user = serializers.CharField(allow_null=True, help_text="Username; null for a command.")
    change_reason = serializers.CharField(allow_null=True)
    object_type = serializers.CharField(help_text="e.g. 'route rule' or 'route target'.")
    object_id = serializers.IntegerField()
    object_repr = serializers.CharField()
    changes = HistoryChangeSerializer(many=True)


class ImportRequestSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="The CSV file (UTF-8), in the format of the export.")
    mode = serializers.ChoiceField(
        choices=["add", "replace", "replace-scope"],
        default="add",
        help_text="add: fail on a duplicate; replace: first delete the existing rows the file "
        "redefines; replace-scope: first delete every row of each scope the file names.",
    )
    dry_run = serializers.BooleanField(
        default=False, help_text="Validate and count, then roll everything back."
    )


class ImportResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    targets_created = serializers.IntegerField()
    deleted = serializers.IntegerField()
    dry_run = serializers.BooleanField()


class LimitImportRequestSerializer(serializers.Serializer):
    file = serializers.FileField(
        help_text="The CSV file (UTF-8): kind,name,max_calls,max_cps, the export's format."
    )
    dry_run = serializers.BooleanField(
        default=False, help_text="Validate and count, then roll everything back."
    )


class LimitImportResultSerializer(serializers.Serializer):
    updated = serializers.IntegerField(help_text="Objects whose limits changed.")
    unchanged = serializers.IntegerField(help_text="Objects of the file already so limited.")
    dry_run = serializers.BooleanField()


class PortedImportRequestSerializer(serializers.Serializer):
    file = serializers.FileField(
        help_text="The CSV file (UTF-8): number,lrn[,effective_from], the export's format."
    )
    mode = serializers.ChoiceField(
        choices=["full", "delta"],
        default="full",
        help_text="full: the file is the whole database, numbers not in it are removed; "
        "delta: only the file's numbers change, an empty lrn removes one.",
    )
    dry_run = serializers.BooleanField(
        default=False,
        help_text="The preview: check the file and count what would be new, changed, removed "
        "and unchanged, then roll everything back.",
    )


class PortedImportResultSerializer(serializers.Serializer):
    rows = serializers.IntegerField(help_text="Lines read, without the header.")
    new = serializers.IntegerField()
    changed = serializers.IntegerField()
    removed = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    dry_run = serializers.BooleanField()
    delta = serializers.BooleanField()


class ImportErrorItemSerializer(serializers.Serializer):
    line = serializers.IntegerField(
        allow_null=True,
        help_text="Line number in the file (the header is line 1); null for a form field.",
    )
    field = serializers.CharField()
    message = serializers.CharField()


class ImportErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    errors = ImportErrorItemSerializer(many=True)


class RateImportRequestSerializer(serializers.Serializer):
    file = serializers.FileField(
        help_text="The deck (UTF-8 CSV): prefix,rate[,connect_fee,initial_increment,"
        "next_increment,description,effective_from], with a header line. effective_from: the "
        "line's own start (ISO 8601 date or date-time; without an offset, the server's time "
        "zone; empty: the file's date; not before it)."
    )
    mode = serializers.ChoiceField(
        choices=["full", "delta"],
        default="full",
        help_text="full: the file is the whole deck, the prefixes not in it end at the date; "
        "delta: only the file's prefixes change, the others stay as they are (a line whose "
        "`change` is removed closes its prefix).",
    )
    effective_from = serializers.DateTimeField(
        required=False,
        allow_null=True,
        help_text="When the new rates take effect (ISO 8601 date-time, or a date: its midnight; "
        "without an offset, the server's time zone; default: now; not in the past). "
        "The rates they replace, and the prefixes not in the file, end then.",
    )
    preview = serializers.BooleanField(
        default=False,
        help_text="Compare with the deck and answer the counts and samples; write nothing.",
    )


class RateChangeSerializer(serializers.Serializer):
    prefix = serializers.CharField()
    old = serializers.CharField(allow_null=True, help_text="The rate before (null: new).")
    new = serializers.CharField(allow_null=True, help_text="The rate after (null: removed).")
    line = serializers.IntegerField(allow_null=True, help_text="The file's line.")
    effective_from = serializers.DateTimeField(
        allow_null=True,
        help_text="The line's own date, when it is not the file's (null: the file's date).",
    )


class RateImportCountsSerializer(serializers.Serializer):
    new = serializers.IntegerField()
    increased = serializers.IntegerField()
    decreased = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    terms = serializers.IntegerField(
        help_text="Same rate, another connect fee, increment or description."
    )
    removed = serializers.IntegerField(
        help_text="In effect at the date and not in the file, or closed by a line whose "
        "`change` is removed (a delta: only those)."
    )


class RateImportSamplesSerializer(serializers.Serializer):
    new = RateChangeSerializer(many=True)
    increased = RateChangeSerializer(many=True)
    decreased = RateChangeSerializer(many=True)
    unchanged = RateChangeSerializer(many=True)
    terms = RateChangeSerializer(many=True)
    removed = RateChangeSerializer(many=True)


class RateImportResultSerializer(serializers.Serializer):
    deck = serializers.CharField()
    effective_from = serializers.DateTimeField()
    preview = serializers.BooleanField()
    mode = serializers.CharField(help_text="full or delta, as asked.")
    rows = serializers.IntegerField(help_text="Lines read, without the header.")
    counts = RateImportCountsSerializer()
    samples = RateImportSamplesSerializer(help_text="Up to 10 prefixes of each kind.")
    ended = serializers.IntegerField(help_text="Rates ended at the date (apply).")
    deleted = serializers.IntegerField(help_text="Rates starting at or after it, replaced.")
    created = serializers.IntegerField(help_text="Rates starting at the date (apply).")


class CallRecordSerializer(serializers.ModelSerializer):
    """A call or attempt record, as stored (read-only)."""

    class Meta:
        model = CallRecord
        fields = [
            "id", "kind", "call_id", "attempt", "attempts", "start_time", "end_time",
            "direction", "tenant_id", "pbx_id", "source_carrier_id", "rule_id", "carrier_id",
            "gateway_id", "source_ip", "caller_in", "callee_in", "caller", "callee",
            "caller_out", "callee_out", "sip_code", "sip_reason", "q850_cause", "pdd_ms",
            "answer_ms", "duration_ms", "hangup", "lrn", "currency", "rate", "sell_rate",
            "billed_seconds", "cost", "revenue", "margin",
        ]  # fmt: skip
        read_only_fields = fields


class NumberListSerializer(DisplayMixin, ModelCleanSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="routing-api:numberlist-detail")
    entry_count = serializers.SerializerMethodField(help_text="How many entries the list has.")
    refusal_reason = serializers.CharField(
        read_only=True, help_text="The reason a refused call gets (the side's default if empty)."
    )

    class Meta:
        model = NumberList
        fields = [
            "id",
            "url",
            "display",
            "name",
            "mode",
            "side",
            "tenant",
            "carrier",
            "code",
            "reason",
            "refusal_reason",
            "enabled",
            "description",
            "entry_count",
            *TIMESTAMPS,
        ]

    @extend_schema_field(int)
    def get_entry_count(self, obj: NumberList) -> int:
        # Annotated by the viewset's queryset; counted for an object just written.
        count = getattr(obj, "entry_count", None)
        return count if count is not None else obj.entries.count()


class LnpRuleSerializer(DisplayMixin, ModelCleanSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="routing-api:lnprule-detail")

    class Meta:
        model = LnpRule
        fields = ["id", "url", "display", "tenant", "prefix", "enabled", "description",
                  *TIMESTAMPS]  # fmt: skip


class PortedNumberSerializer(DisplayMixin, ModelCleanSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="routing-api:portednumber-detail")

    class Meta:
        model = PortedNumber
        fields = ["id", "url", "display", "number", "lrn", "effective_from"]


class NumberListEntrySerializer(DisplayMixin, ModelCleanSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="routing-api:numberlistentry-detail")

    class Meta:
        model = NumberListEntry
        fields = [
            "id",
            "url",
            "display",
            "number_list",
            "match",
            "number",
            "range_end",
            "comment",
            *TIMESTAMPS,
        ]


class RateDeckSerializer(DisplayMixin, ModelCleanSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="routing-api:ratedeck-detail")
    rate_count = serializers.SerializerMethodField(help_text="How many rates the deck has.")

    class Meta:
        model = RateDeck
        fields = [
            "id",
            "url",
            "display",
            "name",
            "carrier",
            "tenant",
            "currency",
            "description",
            "rate_count",
            *TIMESTAMPS,
        ]

    @extend_schema_field(int)
    def get_rate_count(self, obj: RateDeck) -> int:
        count = getattr(obj, "rate_count", None)
        return count if count is not None else obj.rates.count()


class ExchangeRateSerializer(DisplayMixin, ModelCleanSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="routing-api:exchangerate-detail")

    class Meta:
        model = ExchangeRate
        fields = ["id", "url", "display", "currency", "rate", *TIMESTAMPS]


class RateSerializer(DisplayMixin, ModelCleanSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="routing-api:rate-detail")

    class Meta:
        model = Rate
        fields = [
            "id",
            "url",
            "display",
            "deck",
            "prefix",
            "rate",
            "connect_fee",
            "initial_increment",
            "next_increment",
            "effective_from",
            "effective_until",
            "description",
            *TIMESTAMPS,
        ]
