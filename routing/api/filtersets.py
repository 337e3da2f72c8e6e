"""django-filter FilterSets, one per list endpoint, with the same slots everywhere.

Every set has `q` (a free-text search over the fields an operator would type), and where the
model has them: `tenant`, `carrier`, `pbx` (ids, repeatable), `enabled`, and `prefix`
(starts-with on the model's prefix or number).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db.models import IntegerField, Q, QuerySet
from django_filters import fields as filter_fields
from django_filters import rest_framework as filters

from routing import validators
from routing.models import (
    CallRecord,
    Carrier,
    Did,
    Domain,
    ExchangeRate,
    Gateway,
    HealthPolicy,
    IpSource,
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
    Tenant,
)

# What every database here stores in an integer column (PostgreSQL bigint, SQLite INTEGER).
# A filter value outside it never matches a row; sent to the database it is an error
# (PostgreSQL: "bigint out of range"; SQLite: OverflowError), i.e. a 500.
INTEGER_RANGE = (-(2**63), 2**63 - 1)


def _out_of_range(field: forms.ModelChoiceField, value: Any) -> bool:
    """Whether `value` is a number no integer column holds, for a field keyed by integers."""
    model = field.queryset.model
    key = (
        model._meta.pk
        if field.to_field_name is None
        else model._meta.get_field(field.to_field_name)
    )
    if not isinstance(key, IntegerField):  # AutoField and BigAutoField are IntegerFields
        return False
    try:
        number = int(str(value))
    except ValueError:
        return False  # not a number: the field's own check says so
    return not INTEGER_RANGE[0] <= number <= INTEGER_RANGE[1]


class BoundedModelChoiceField(filter_fields.ModelChoiceField):
    """An object id filter that refuses an id no integer column holds before querying."""

    def to_python(self, value: Any) -> Any:
        if value not in self.empty_values and _out_of_range(self, value):
            raise ValidationError(self.error_messages["invalid_choice"], code="invalid_choice")
        return super().to_python(value)


class BoundedModelMultipleChoiceField(filter_fields.ModelMultipleChoiceField):
    """Ids (repeatable) refused the same way, with the message an unknown id gets."""

    def _check_values(self, value: Any) -> Any:
        for item in value:
            if _out_of_range(self, item):
                raise ValidationError(
                    self.error_messages["invalid_choice"],
                    code="invalid_choice",
                    params={"value": item},
                )
        return super()._check_values(value)


class BaseFilterSet(filters.FilterSet):
    """Every list endpoint's filters: `q`, and integer inputs kept within what a column holds.

    The bounds are set here, on every filter of every set (declared or generated from
    Meta.fields), not per field: an id filter (`tenant`, `carrier`, ...) given a 24-digit id
    answers 400 "Select a valid choice" as an unknown id does, on PostgreSQL and SQLite
    alike (SQLite raised OverflowError: a 500), and a number filter refuses a value beyond
    INTEGER_RANGE (no model here has a non-integer number field).
    """

    q = filters.CharFilter(method="search", label="Search")
    # The model fields `q` looks in (icontains).
    search_fields: tuple[str, ...] = ()

    @classmethod
    def get_filters(cls) -> dict[str, filters.Filter]:
        # Called once per FilterSet class, on the declared and the generated filters alike.
        found = super().get_filters()
        for filter_ in found.values():
            field_class = filter_.field_class
            if issubclass(field_class, forms.ModelMultipleChoiceField):
                filter_.field_class = BoundedModelMultipleChoiceField
            elif issubclass(field_class, forms.ModelChoiceField):
                filter_.field_class = BoundedModelChoiceField
            elif isinstance(filter_, filters.NumberFilter):
                filter_.extra.setdefault(
                    "validators",
                    [MinValueValidator(INTEGER_RANGE[0]), MaxValueValidator(INTEGER_RANGE[1])],
                )
        return found

    def search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        value = value.strip()
        if not value:
            return queryset
        query = Q()
        for field in self.search_fields:
            query |= Q(**{f"{field}__icontains": value})
        return queryset.filter(query)


def _ids(model: type, field_name: str, label: str) -> filters.ModelMultipleChoiceFilter:
    return filters.ModelMultipleChoiceFilter(
        field_name=field_name, queryset=model.objects.all(), label=label
    )


def _prefix(field_name: str, label: str) -> filters.CharFilter:
    return filters.CharFilter(field_name=field_name, lookup_expr="startswith", label=label)


class TenantFilterSet(BaseFilterSet):
    search_fields = ("name", "description")

    class Meta:
        model = Tenant
        fields = ["q", "enabled", "name"]


class DomainFilterSet(BaseFilterSet):
    search_fields = ("name",)
    tenant = _ids(Tenant, "tenant", "Tenant (id)")
    pbx = _ids(Pbx, "pbx", "PBX (id)")

    class Meta:
        model = Domain
        fields = ["q", "tenant", "pbx", "enabled", "name"]


class PbxFilterSet(BaseFilterSet):
    search_fields = ("name", "host")
    tenant = _ids(Tenant, "tenant", "Tenant (id)")

    class Meta:
        model = Pbx
        fields = ["q", "tenant", "enabled", "transport", "host"]


class CarrierFilterSet(BaseFilterSet):
    search_fields = ("name", "description", "from_domain")

    class Meta:
        model = Carrier
        fields = ["q", "enabled", "name"]


class GatewayFilterSet(BaseFilterSet):
    search_fields = ("name", "host", "carrier__name")
    carrier = _ids(Carrier, "carrier", "Carrier (id)")
    prefix = _prefix("prefix", "Technical prefix starts with")

    class Meta:
        model = Gateway
        fields = ["q", "carrier", "enabled", "transport", "host", "prefix"]


class IpSourceFilterSet(BaseFilterSet):
    search_fields = ("cidr", "description")
    carrier = _ids(Carrier, "carrier", "Carrier (id)")
    pbx = _ids(Pbx, "pbx", "PBX (id)")
    tenant = _ids(Tenant, "pbx__tenant", "Tenant of the PBX (id)")

    class Meta:
        model = IpSource
        fields = ["q", "carrier", "pbx", "tenant", "enabled"]


class DidFilterSet(BaseFilterSet):
    search_fields = ("number", "range_end", "description")
    tenant = _ids(Tenant, "tenant", "Tenant (id)")
    pbx = _ids(Pbx, "pbx", "PBX (id)")
    prefix = _prefix("number", "Number starts with")

    class Meta:
        model = Did
        fields = ["q", "tenant", "pbx", "match", "enabled", "prefix"]


class RouteRuleFilterSet(BaseFilterSet):
    search_fields = ("name", "description", "prefix")
    tenant = _ids(Tenant, "tenant", "Tenant (id)")
    is_global = filters.BooleanFilter(
        field_name="tenant",
        lookup_expr="isnull",
        label="Global rules only (true) or tenants' rules only (false)",
    )
    carrier = filters.ModelMultipleChoiceFilter(
        queryset=Carrier.objects.all(),
        method="filter_carrier",
        label="Routes to this carrier, directly or through one of its gateways (id)",
    )
    gateway = filters.ModelMultipleChoiceFilter(
        field_name="targets__gateway",
        queryset=Gateway.objects.all(),
        distinct=True,
        label="Routes to this gateway (id)",
    )
    prefix = _prefix("prefix", "Destination prefix starts with")
    caller_prefix = _prefix("caller_prefix", "Caller prefix starts with")
    matches = filters.CharFilter(
        method="filter_matches",
        label="Rules whose destination prefix matches this E.164 number (longest first)",
    )

    class Meta:
        model = RouteRule
        fields = [
            "q",
            "tenant",
            "is_global",
            "carrier",
            "gateway",
            "enabled",
            "prefix",
            "caller_prefix",
            "matches",
        ]

    def filter_carrier(self, queryset: QuerySet, name: str, value: list[Carrier]) -> QuerySet:
        if not value:
            return queryset
        return queryset.filter(
            Q(targets__carrier__in=value) | Q(targets__gateway__carrier__in=value)
        ).distinct()

    def filter_matches(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        number = value.strip()
        try:
            validators.validate_digits(number)
        except ValidationError:
            return queryset.none()
        prefixes = [number[:i] for i in range(len(number) + 1)]
        return queryset.filter(prefix__in=prefixes).order_by("-prefix", "priority", "id")


class NormalizationRuleFilterSet(BaseFilterSet):
    search_fields = ("description", "pattern", "match_prefix")
    carrier = _ids(Carrier, "carrier", "Carrier (id)")
    pbx = _ids(Pbx, "pbx", "PBX (id)")
    tenant = _ids(Tenant, "pbx__tenant", "Tenant of the PBX (id)")
    prefix = _prefix("match_prefix", "Match prefix starts with")

    class Meta:
        model = NormalizationRule
        fields = ["q", "carrier", "pbx", "tenant", "direction", "kind", "enabled", "prefix"]


class HealthPolicyFilterSet(BaseFilterSet):
    search_fields = ("name",)

    class Meta:
        model = HealthPolicy
        fields = ["q", "name", "probing", "demote"]


class RouterInstanceFilterSet(BaseFilterSet):
    search_fields = ("name", "description", "listen_ip")

    class Meta:
        model = RouterInstance
        fields = ["q", "enabled", "transport", "name"]


class CallRecordFilterSet(filters.FilterSet):
    """Call records: a time range, then the ids and codes of a record (indexed, see
    CallRecord's indexes), the number prefix, one Call-ID."""

    start_after = filters.IsoDateTimeFilter(
        field_name="start_time", lookup_expr="gte", label="Started at or after (ISO 8601)"
    )
    start_before = filters.IsoDateTimeFilter(
        field_name="start_time", lookup_expr="lt", label="Started before (ISO 8601)"
    )
    tenant = filters.NumberFilter(field_name="tenant_id", label="Tenant id")
    carrier = filters.NumberFilter(field_name="carrier_id", label="Carrier id (of the attempt)")
    gateway = filters.NumberFilter(field_name="gateway_id", label="Gateway id")
    rule = filters.NumberFilter(field_name="rule_id", label="Route rule id")
    sip_code = filters.NumberFilter(field_name="sip_code", label="Final SIP code")
    prefix = _prefix("callee", "Called number (E.164) starts with")
    call_id = filters.CharFilter(field_name="call_id", label="SIP Call-ID")

    class Meta:
        model = CallRecord
        fields = [
            "start_after", "start_before", "kind", "direction", "tenant", "carrier", "gateway",
            "rule", "sip_code", "prefix", "call_id", "hangup",
        ]  # fmt: skip


class NumberListFilterSet(BaseFilterSet):
    search_fields = ("name", "description", "reason")
    tenant = _ids(Tenant, "tenant", "Tenant (id)")
    carrier = _ids(Carrier, "carrier", "Carrier (id)")
    is_global = filters.BooleanFilter(
        method="filter_global", label="Global lists only (true) or attached ones only (false)"
    )

    class Meta:
        model = NumberList
        fields = ["q", "mode", "side", "tenant", "carrier", "is_global", "enabled"]

    def filter_global(self, queryset: QuerySet, name: str, value: bool | None) -> QuerySet:
        if value is None:
            return queryset
        attached = Q(tenant__isnull=False) | Q(carrier__isnull=False)
        return queryset.exclude(attached) if value else queryset.filter(attached)


class LnpRuleFilterSet(BaseFilterSet):
    search_fields = ("prefix", "description")
    tenant = _ids(Tenant, "tenant", "Tenant (id)")

    class Meta:
        model = LnpRule
        fields = ["q", "tenant", "enabled"]


class PortedNumberFilterSet(BaseFilterSet):
    search_fields = ("number", "lrn")
    prefix = _prefix("number", "Number starts with")
    lrn = filters.CharFilter(field_name="lrn", label="Routing number (LRN)")

    class Meta:
        model = PortedNumber
        fields = ["q", "prefix", "lrn"]


class NumberListEntryFilterSet(BaseFilterSet):
    search_fields = ("number", "range_end", "comment")
    number_list = _ids(NumberList, "number_list", "Number list (id)")
    prefix = _prefix("number", "Number starts with")

    class Meta:
        model = NumberListEntry
        fields = ["q", "number_list", "match", "prefix"]


class RateDeckFilterSet(BaseFilterSet):
    search_fields = ("name", "description")
    carrier = _ids(Carrier, "carrier", "Carrier (id)")
    tenant = _ids(Tenant, "tenant", "Tenant (id)")

    class Meta:
        model = RateDeck
        fields = ["q", "carrier", "tenant", "currency"]


class ExchangeRateFilterSet(BaseFilterSet):
    search_fields = ("currency",)

    class Meta:
        model = ExchangeRate
        fields = ["q", "currency"]


class RateFilterSet(BaseFilterSet):
    search_fields = ("prefix", "description")
    deck = _ids(RateDeck, "deck", "Rate deck (id)")
    prefix = _prefix("prefix", "Prefix starts with")

    class Meta:
        model = Rate
        fields = ["q", "deck", "prefix"]
