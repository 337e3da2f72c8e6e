"""The Django admin: where an operator sets up carriers, customers, numbers and routes.

Written for someone who has never seen Kamailio: every form groups its fields by the
question they answer (who is it, where do calls go, how do numbers look, how long to wait)
and says in a sentence what the group is for. Each object has a History page
(django-simple-history), so a wrong change can be found and undone.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Prefetch, QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest
from django.urls import reverse, reverse_lazy
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.text import format_lazy
from simple_history.admin import SimpleHistoryAdmin

from routing import import_process, imports, imports_lnp
from routing.admin_csv import CsvImportExportMixin, CsvUploadForm
from routing.admin_rates import RateImportMixin
from routing.api.history import object_history
from routing.models import (
    Carrier,
    Did,
    DidMatch,
    Domain,
    ExchangeRate,
    Gateway,
    GatewayHealth,
    HealthPolicy,
    HealthState,
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
    RouteTarget,
    RoutingVersion,
    RuleAction,
    RuleKind,
    Tenant,
)
from routing.models.rates import base_currency, plain

RECORD_FIELDSET = (
    "Record",
    {"fields": ("created_at", "updated_at"), "classes": ("collapse",)},
)
RECORD_FIELDS = ("created_at", "updated_at")

WHERE_TO_SEND = (
    "Where SIP messages are sent: the address of the peer. Kamailio, the SIP router, "
    "sends the call there."
)
TIMERS = (
    "How long the router waits before giving up on this peer and trying the next route. "
    "Leave empty to use the router's defaults."
)


class OneRowOnAddMixin:
    """One empty row on the add page (a new carrier needs a gateway), none on change pages."""

    def get_extra(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> int:
        return 1 if obj is None else 0


def _parent_pk(request: HttpRequest) -> str | None:
    """The primary key of the object an inline is shown in (None on an add page)."""
    match = request.resolver_match
    return match.kwargs.get("object_id") if match is not None else None


# --- Inlines --------------------------------------------------------------------------------


class GatewayInline(OneRowOnAddMixin, admin.TabularInline):
    model = Gateway
    # What fits on a row at 1366 px; number handling, socket and timers are on the gateway's
    # own page (the row's change link), as the heading says.
    fields = ("name", "host", "port", "transport", "weight", "enabled")
    show_change_link = True
    verbose_name_plural = "Gateways (open one for its number handling, outgoing socket and timers)"


class CarrierIpSourceInline(OneRowOnAddMixin, admin.TabularInline):
    model = IpSource
    fk_name = "carrier"
    fields = ("cidr", "enabled", "description")
    verbose_name = "trusted IP source"
    verbose_name_plural = "Trusted IP sources (calls from these networks come from this carrier)"


class PbxIpSourceInline(CarrierIpSourceInline):
    fk_name = "pbx"
    verbose_name_plural = "Trusted IP sources (calls from these networks come from this PBX)"


NORMALIZATION_INLINE_FIELDS = (
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
)


class CarrierNormalizationInline(admin.TabularInline):
    model = NormalizationRule
    fk_name = "carrier"
    fields = NORMALIZATION_INLINE_FIELDS
    extra = 0
    show_change_link = True
    verbose_name_plural = (
        "Number normalization (how this peer writes numbers, turned into E.164 and back)"
    )


class PbxNormalizationInline(CarrierNormalizationInline):
    fk_name = "pbx"


class DomainInline(OneRowOnAddMixin, admin.TabularInline):
    model = Domain
    fields = ("name", "pbx", "enabled")
    show_change_link = True

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        # Only the tenant's own PBXs make sense here (Domain.clean refuses the others).
        if db_field.name == "pbx":
            kwargs["queryset"] = Pbx.objects.filter(tenant_id=_parent_pk(request))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class PbxInline(OneRowOnAddMixin, admin.TabularInline):
    model = Pbx
    fields = ("name", "host", "port", "transport", "enabled")
    show_change_link = True
    verbose_name_plural = "PBXs (open one for its IP sources, number handling and timers)"


NO_TARGETS = (
    "A rule that routes needs at least one target. To refuse these calls on purpose, "
    "choose 'Reject' as the action and give the SIP code and reason."
)
TARGETS_OF_A_REJECT = (
    "A rule that rejects its calls has no targets: delete them, or choose 'Route' as the action."
)


class RouteTargetFormSet(BaseInlineFormSet):
    """A rule routes to at least one target, or rejects and has none (issue 12, item 5)."""

    def clean(self) -> None:
        super().clean()
        if any(self.errors):
            return
        kept = [
            form
            for form in self.forms
            if form.cleaned_data  # an empty extra row has none
            and not self._should_delete_form(form)
            and (form.cleaned_data.get("carrier") or form.cleaned_data.get("gateway"))
        ]
        rule = self.instance
        if rule.action == RuleAction.REJECT and kept:
            raise ValidationError(TARGETS_OF_A_REJECT)
        if rule.action == RuleAction.ROUTE and not kept:
            raise ValidationError(NO_TARGETS)


class RouteTargetInline(OneRowOnAddMixin, admin.TabularInline):
    model = RouteTarget
    formset = RouteTargetFormSet
    fields = ("order", "carrier", "gateway", "weight")
    ordering = ("order", "id")
    autocomplete_fields = ("carrier", "gateway")
    verbose_name = "target"
    verbose_name_plural = (
        "Targets: one carrier or one gateway per line. The lowest order is tried first; "
        "the next order when it fails. Targets with the same order share calls by weight."
    )


# --- Filters --------------------------------------------------------------------------------


class OwnerKindFilter(admin.SimpleListFilter):
    """Whether a source or normalization rule belongs to a carrier or to a PBX."""

    title = "owner"
    parameter_name = "owner"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("carrier", "Carriers"), ("pbx", "PBXs")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "carrier":
            return queryset.filter(carrier__isnull=False)
        if self.value() == "pbx":
            return queryset.filter(pbx__isnull=False)
        return queryset


class ScopeFilter(admin.SimpleListFilter):
    """Global rules (every tenant) or a tenant's own."""

    title = "scope"
    parameter_name = "scope"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("global", "Global"), ("tenant", "Tenant-specific")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "global":
            return queryset.filter(tenant__isnull=True)
        if self.value() == "tenant":
            return queryset.filter(tenant__isnull=False)
        return queryset


class TimeWindowFilter(admin.SimpleListFilter):
    title = "time window"
    parameter_name = "window"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Has a time window"), ("no", "Always open")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "yes":
            return queryset.exclude(weekdays="", start_time__isnull=True)
        if self.value() == "no":
            return queryset.filter(weekdays="", start_time__isnull=True)
        return queryset


CAPACITY = format_lazy(
    "Limits Kamailio holds for every node together. Calls in (from a PBX, or from a "
    "carrier) over an IP source's, a tenant's, a PBX's or a carrier's limit are refused at "
    "once (503 with "
    "Retry-After by default); a route to a carrier or gateway over its limit is skipped, as "
    "if it had failed. Empty: no limit. "
    '<a href="{}">All limits in one CSV file</a> (export, edit, import).',
    reverse_lazy("capacity-limits"),
)


# --- Customers ------------------------------------------------------------------------------


@admin.register(Tenant)
class TenantAdmin(SimpleHistoryAdmin):
    list_display = ("name", "domain_count", "pbx_count", "did_count", "enabled")
    list_editable = ("enabled",)
    list_filter = ("enabled",)
    search_fields = ("name", "description")
    # The counts below are aggregates, which drop the model's default ordering: without
    # this the tenant pickers page an unordered list (UnorderedObjectListWarning).
    ordering = ("name",)
    readonly_fields = RECORD_FIELDS
    fieldsets = (
        (
            None,
            {
                "fields": ("name", "enabled", "description"),
                "description": "A customer account. Its PBXs place and receive calls; its "
                "domains and DIDs decide which inbound calls are theirs.",
            },
        ),
        (
            "Capacity",
            {
                "fields": ("max_calls", "max_cps"),
                "description": CAPACITY,
                "classes": ("collapse",),
            },
        ),
        (
            "Least-cost routing: margin protection",
            {
                "fields": (
                    ("pricing", "markup", "pricing_currency"),
                    "min_margin_percent",
                    "no_profit_code",
                    "no_profit_reason",
                ),
                "description": "The customer's rate is its sell rate deck's, or without a "
                "deck the pricing policy's (each carrier's rate plus a percentage or a fixed "
                "amount per minute). Least-cost rules leave out a carrier whose rate leaves "
                "less than the minimum margin of the customer's rate; when none is left, the "
                "call is refused with this code and reason.",
                "classes": ("collapse",),
            },
        ),
        RECORD_FIELDSET,
    )
    inlines = (DomainInline, PbxInline)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Tenant]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                n_domains=Count("domains", distinct=True),
                n_pbxs=Count("pbxs", distinct=True),
                n_dids=Count("dids", distinct=True),
            )
        )

    @admin.display(description="domains", ordering="n_domains")
    def domain_count(self, obj: Tenant) -> int:
        return obj.n_domains  # type: ignore[attr-defined]

    @admin.display(description="PBXs", ordering="n_pbxs")
    def pbx_count(self, obj: Tenant) -> int:
        return obj.n_pbxs  # type: ignore[attr-defined]

    @admin.display(description="DIDs", ordering="n_dids")
    def did_count(self, obj: Tenant) -> int:
        return obj.n_dids  # type: ignore[attr-defined]


@admin.register(Domain)
class DomainAdmin(SimpleHistoryAdmin):
    list_display = ("name", "tenant", "pbx", "enabled")
    list_editable = ("enabled",)
    list_filter = ("enabled", "tenant")
    list_select_related = ("tenant", "pbx__tenant")
    search_fields = ("name", "tenant__name")
    autocomplete_fields = ("tenant", "pbx")
    readonly_fields = RECORD_FIELDS
    fieldsets = (
        (
            None,
            {
                "fields": ("name", "tenant", "pbx", "enabled"),
                "description": "Calls to anything@this-domain belong to the tenant and go to "
                "the PBX when no DID matches the called number.",
            },
        ),
        RECORD_FIELDSET,
    )


@admin.register(Pbx)
class PbxAdmin(SimpleHistoryAdmin):
    list_display = ("name", "tenant", "address", "transport", "source_list", "enabled")
    list_editable = ("enabled",)
    list_filter = ("enabled", "transport", "tenant")
    list_select_related = ("tenant",)
    search_fields = ("name", "host", "tenant__name")
    autocomplete_fields = ("tenant",)
    readonly_fields = RECORD_FIELDS
    fieldsets = (
        (
            "Identity",
            {
                "fields": ("tenant", "name", "enabled"),
                "description": "A customer's phone system (IP-PBX, SBC): it sends the "
                "tenant's outbound calls and receives its inbound calls.",
            },
        ),
        (
            "Where to send",
            {
                "fields": ("host", "port", "transport", "socket"),
                "description": ("Where inbound calls for this tenant are delivered."),
            },
        ),
        (
            "Timers",
            {
                "fields": ("fr_timer", "fr_inv_timer"),
                "description": TIMERS,
                "classes": ("collapse",),
            },
        ),
        (
            "Capacity",
            {
                "fields": ("max_calls", "max_cps"),
                "description": CAPACITY,
                "classes": ("collapse",),
            },
        ),
        RECORD_FIELDSET,
    )
    inlines = (PbxIpSourceInline, PbxNormalizationInline)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Pbx]:
        return super().get_queryset(request).prefetch_related("ip_sources")

    @admin.display(description="IP sources")
    def source_list(self, obj: Pbx) -> str:
        return ", ".join(source.cidr for source in obj.ip_sources.all()) or "-"


# --- Carriers -------------------------------------------------------------------------------

HEALTH_HELP = (
    "A health policy probes the gateways with SIP OPTIONS (Kamailio reports them up or down) "
    "and may demote those failing too many calls. A gateway's own policy overrides its "
    "carrier's. Probing settings reach Kamailio when its config is rendered again."
)


def _health_row(gateway: Gateway) -> GatewayHealth | None:
    try:
        return gateway.health  # type: ignore[no-any-return]
    except GatewayHealth.DoesNotExist:
        return None


def health_state(gateway: Gateway, carrier: Carrier) -> str:
    """What the lists show: 'up', 'down', 'demoted', 'probing off', or '' (not watched)."""
    policy = gateway.health_policy or carrier.health_policy
    if policy is None:
        return ""
    row = _health_row(gateway)
    if policy.probing and row is not None and row.state == HealthState.DOWN:
        return "down"
    if policy.demote and row is not None and row.skip_probability > 0:
        return "demoted"
    if not policy.probing:
        return "probing off"
    return row.state if row is not None else "unknown"


@admin.register(Carrier)
class CarrierAdmin(SimpleHistoryAdmin):
    list_display = (
        "name", "gateway_count", "health_summary", "source_list", "from_domain", "enabled"
    )  # fmt: skip
    list_editable = ("enabled",)
    list_filter = ("enabled", "send_pai", "health_policy")
    search_fields = ("name", "description", "gateways__host")
    # As for tenants: the gateway count drops the default ordering the carrier picker pages.
    ordering = ("name",)
    readonly_fields = RECORD_FIELDS
    fieldsets = (
        (
            "Identity",
            {
                "fields": ("name", "enabled", "description"),
                "description": "An upstream provider. Outbound calls go to its gateways "
                "(below); inbound calls are recognised by its trusted IP sources.",
            },
        ),
        (
            "What the carrier receives",
            {
                "fields": ("from_domain", "send_pai", "send_rn", "extra_headers"),
                "description": "How calls sent to this carrier present the caller.",
                "classes": ("collapse",),
            },
        ),
        (
            "Health",
            {
                "fields": ("health_policy",),
                "description": HEALTH_HELP,
            },
        ),
        (
            "Capacity",
            {
                "fields": ("max_calls", "max_cps"),
                "description": CAPACITY,
                "classes": ("collapse",),
            },
        ),
        RECORD_FIELDSET,
    )
    inlines = (GatewayInline, CarrierIpSourceInline, CarrierNormalizationInline)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Carrier]:
        return (
            super()
            .get_queryset(request)
            .annotate(n_gateways=Count("gateways", distinct=True))
            .prefetch_related("ip_sources", "gateways__health")
            .select_related("health_policy")
        )

    @admin.display(description="gateways", ordering="n_gateways")
    def gateway_count(self, obj: Carrier) -> int:
        return obj.n_gateways  # type: ignore[attr-defined]

    @admin.display(description="health")
    def health_summary(self, obj: Carrier) -> str:
        """'2 up, 1 down' from its gateways' probes; '-' when not watched."""
        states: dict[str, int] = {}
        for gateway in obj.gateways.all():
            state = health_state(gateway, obj)
            if state:
                states[state] = states.get(state, 0) + 1
        return ", ".join(f"{n} {state}" for state, n in sorted(states.items())) or "-"

    @admin.display(description="IP sources")
    def source_list(self, obj: Carrier) -> str:
        return ", ".join(source.cidr for source in obj.ip_sources.all()) or "-"


@admin.register(Gateway)
class GatewayAdmin(SimpleHistoryAdmin):
    list_display = (
        "name",
        "carrier",
        "address",
        "transport",
        "weight",
        "number_handling",
        "health",
        "enabled",
    )
    list_editable = ("enabled",)
    list_filter = ("enabled", "transport", "carrier", "health__state")
    list_select_related = ("carrier", "carrier__health_policy", "health_policy", "health")
    search_fields = ("name", "host", "carrier__name")
    autocomplete_fields = ("carrier",)
    readonly_fields = RECORD_FIELDS
    fieldsets = (
        (
            "Identity",
            {
                "fields": ("carrier", "name", "enabled"),
                "description": "One SIP address of a carrier. A route to the whole carrier "
                "shares calls among its enabled gateways by weight.",
            },
        ),
        (
            "Where to send",
            {
                "fields": ("host", "port", "transport", "socket", "weight"),
                "description": WHERE_TO_SEND,
            },
        ),
        (
            "Number handling",
            {
                "fields": ("strip", "prefix"),
                "description": "Some gateways want numbers in their own format: remove digits "
                "from the front, then add a prefix. Applied to the called number sent here.",
            },
        ),
        ("Timers", {"fields": ("fr_timer", "fr_inv_timer"), "description": TIMERS}),
        (
            "Health",
            {"fields": ("health_policy", "health_detail"), "description": HEALTH_HELP},
        ),
        (
            "Capacity",
            {
                "fields": ("max_calls", "max_cps"),
                "description": CAPACITY,
                "classes": ("collapse",),
            },
        ),
        RECORD_FIELDSET,
    )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return (*super().get_readonly_fields(request, obj), "health_detail")

    @admin.display(description="health")
    def health(self, obj: Gateway) -> str:
        row = _health_row(obj)
        state = health_state(obj, obj.carrier)
        if state == "down" and row is not None:
            return f"down since {row.since.astimezone():%Y-%m-%d %H:%M}"
        if state == "demoted" and row is not None:
            return f"demoted ({row.skip_probability:.0%})"
        return state or "-"

    @admin.display(description="state")
    def health_detail(self, obj: Gateway) -> str:
        if obj.pk is None:
            return "-"
        row = _health_row(obj)
        policy = obj.effective_health_policy()
        if policy is None:
            return "not watched (no health policy)"
        if row is None:
            return "no probe result yet" if policy.probing else "probing off"
        events = list(obj.health_events.all()[:5])
        lines = [f"{row.state} since {row.since:%Y-%m-%d %H:%M:%S %Z}"
                 + (f": {row.reason}" if row.reason else "")]  # fmt: skip
        if row.skip_probability:
            lines.append(
                f"demoted: {row.window_failures} failures in {row.window_attempts} "
                f"attempts, skipped with probability {row.skip_probability:.0%}"
            )
        lines += [f"{e.at:%Y-%m-%d %H:%M:%S} {e.state}: {e.reason}" for e in events]
        return "\n".join(lines)

    @admin.display(description="strip / prefix")
    def number_handling(self, obj: Gateway) -> str:
        if not obj.strip and not obj.prefix:
            return "-"
        return f"-{obj.strip} +{obj.prefix or '∅'}"


# --- Sources, numbers, normalization --------------------------------------------------------


@admin.register(IpSource)
class IpSourceAdmin(SimpleHistoryAdmin):
    list_display = ("cidr", "owner_display", "description", "enabled")
    list_editable = ("enabled",)
    list_filter = ("enabled", OwnerKindFilter, "carrier")
    list_select_related = ("carrier", "pbx__tenant")
    search_fields = ("cidr", "carrier__name", "pbx__name", "pbx__tenant__name", "description")
    search_help_text = "Network, owner name, or an IP address to find the networks containing it."
    autocomplete_fields = ("carrier", "pbx")
    readonly_fields = RECORD_FIELDS
    fieldsets = (
        (
            "Network",
            {
                "fields": ("cidr", "enabled", "description"),
                "description": "The router recognises who sent a call by its source address. "
                "List every network a carrier or PBX sends calls from; calls from anywhere "
                "else are refused.",
            },
        ),
        (
            "Trusted as",
            {
                "fields": ("carrier", "pbx"),
                "description": "Choose exactly one: a carrier (its calls are inbound) or a "
                "PBX (its calls are outbound, for its tenant).",
            },
        ),
        (
            "Capacity",
            {
                "fields": ("max_calls", "max_cps"),
                "description": CAPACITY,
                "classes": ("collapse",),
            },
        ),
        RECORD_FIELDSET,
    )

    @admin.display(description="trusted as", ordering="carrier__name")
    def owner_display(self, obj: IpSource) -> str:
        if obj.carrier_id:
            return f"carrier {obj.carrier}"
        return f"PBX {obj.pbx}" if obj.pbx_id else "-"

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[IpSource], search_term: str
    ) -> tuple[QuerySet[IpSource], bool]:
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        try:
            address = ipaddress.ip_address(search_term.strip())
        except ValueError:
            return results, may_have_duplicates
        # "Who is 198.51.100.10?": also the networks that contain the address.
        containing = [
            pk
            for pk, cidr in queryset.values_list("pk", "cidr")
            if address.version == ipaddress.ip_network(cidr).version
            and address in ipaddress.ip_network(cidr)
        ]
        return results | queryset.filter(pk__in=containing), may_have_duplicates


@admin.register(Did)
class DidAdmin(CsvImportExportMixin, SimpleHistoryAdmin):
    csv_importer = staticmethod(imports.import_dids)
    csv_exporter = staticmethod(imports.export_dids)
    csv_filename = "dids.csv"
    csv_format_template = "admin/routing/csv_format_did.html"
    csv_example_filename = "example-dids.csv"
    csv_example = (
        "tenant,number,match,range_end,pbx,description,enabled\r\n"
        "Acme Corp,33123450000,exact,,acme-hq,Reception,true\r\n"
        "Acme Corp,33123450100,range,33123450199,acme-hq,Sales desks,true\r\n"
        "Acme Corp,3312346,prefix,,acme-hq,Every number of the 3312346 block,true\r\n"
    )

    list_display = ("numbers", "match", "tenant", "pbx", "description", "enabled")
    list_display_links = ("numbers",)
    list_editable = ("enabled",)
    list_filter = ("enabled", "match", "tenant")
    list_select_related = ("tenant", "pbx__tenant")
    search_fields = ("number", "range_end", "description", "tenant__name", "pbx__name")
    autocomplete_fields = ("tenant", "pbx")
    readonly_fields = RECORD_FIELDS
    fieldsets = (
        (
            "Numbers",
            {
                "fields": ("match", "number", "range_end"),
                "description": "The number(s) the tenant owns, in E.164 digits without '+' "
                "(33123456789 for +33 1 23 45 67 89). A range gives its first and last "
                "numbers; a prefix covers every number starting with its digits.",
            },
        ),
        (
            "Delivery",
            {
                "fields": ("tenant", "pbx", "enabled", "description"),
                "description": "Inbound calls to these numbers are delivered to this PBX.",
            },
        ),
        RECORD_FIELDSET,
    )

    @admin.display(description="number(s)", ordering="number")
    def numbers(self, obj: Did) -> str:
        if obj.match == DidMatch.RANGE and obj.range_end:
            count = int(obj.range_end) - int(obj.number) + 1
            return f"{obj.number} - {obj.range_end} ({count} numbers)"
        if obj.match == DidMatch.PREFIX:
            return f"{obj.number}… (every number starting with {obj.number})"
        return obj.number


@admin.register(NumberList)
class NumberListAdmin(SimpleHistoryAdmin):
    list_display = ("name", "mode", "side", "attached_to", "refusal", "entry_count", "enabled")
    list_editable = ("enabled",)
    list_filter = ("enabled", "mode", "side", "tenant", "carrier")
    list_select_related = ("tenant", "carrier")
    search_fields = ("name", "description", "reason")
    autocomplete_fields = ("tenant", "carrier")
    # The entry count drops the model's ordering (GROUP BY): the list picker pages by name.
    ordering = ("name",)
    readonly_fields = ("entries_link", *RECORD_FIELDS)
    fieldsets = (
        (
            "What the list does",
            {
                "fields": ("name", "mode", "side", "enabled", "description"),
                "description": "A block list refuses the numbers it holds; an allow list lets "
                "only its numbers through. It looks at the called number (B) or at the "
                "caller's (A), in E.164 after normalization (33612345678).",
            },
        ),
        (
            "Which calls",
            {
                "fields": ("tenant", "carrier"),
                "description": "Empty: every call. A tenant: that tenant's calls. A carrier: "
                "routes to that carrier are skipped for the numbers the list refuses, and "
                "the next route is tried (the call is not refused).",
            },
        ),
        (
            "The refusal",
            {
                "fields": ("code", "reason"),
                "description": "What a refused call gets: a SIP code (403 by default) and a "
                "reason ('Destination blocked' or 'Source blocked' when empty).",
            },
        ),
        ("Entries", {"fields": ("entries_link",)}),
        RECORD_FIELDSET,
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[NumberList]:
        return super().get_queryset(request).annotate(n_entries=Count("entries"))

    @admin.display(description="entries", ordering="n_entries")
    def entry_count(self, obj: NumberList) -> int:
        return obj.n_entries  # type: ignore[attr-defined]

    @admin.display(description="attached to")
    def attached_to(self, obj: NumberList) -> str:
        return obj.attachment

    @admin.display(description="refusal")
    def refusal(self, obj: NumberList) -> str:
        return f"{obj.code} {obj.refusal_reason}"

    @admin.display(description="entries")
    def entries_link(self, obj: NumberList) -> str:
        if obj.pk is None:
            return "Save the list, then add its entries (one by one or by CSV import)."
        changelist = reverse("admin:routing_numberlistentry_changelist")
        count = getattr(obj, "n_entries", None)
        if count is None:
            count = obj.entries.count()
        return format_html(
            '<a href="{}?number_list__id__exact={}">{} entries</a> (search, add, import CSV)',
            changelist,
            obj.pk,
            count,
        )

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> tuple[Any, ...]:
        # The entries are counted, not listed: a list may hold a million (and they are
        # deleted in SQL with their history: NumberList.delete()).
        names = []
        total = 0
        for obj in objs:
            count = obj.entries.count()
            total += count
            names.append(f"Number list: {obj} and its {count} entries")
        perms_needed = set()
        if total and not request.user.has_perm("routing.delete_numberlistentry"):
            perms_needed.add(NumberListEntry._meta.verbose_name)
        model_count = {
            NumberList._meta.verbose_name_plural: len(names),
            NumberListEntry._meta.verbose_name_plural: total,
        }
        return names, model_count, perms_needed, []

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[NumberList]) -> None:
        for obj in queryset:
            obj.delete()


@admin.register(NumberListEntry)
class NumberListEntryAdmin(CsvImportExportMixin, SimpleHistoryAdmin):
    csv_importer = staticmethod(imports.import_list_entries)
    csv_exporter = staticmethod(imports.export_list_entries)
    csv_filename = "number-list-entries.csv"

    list_display = ("entry", "match", "number_list", "comment")
    list_display_links = ("entry",)
    list_filter = ("match", "number_list")
    list_select_related = ("number_list",)
    # Numbers by their start (the unique index serves it), comments anywhere.
    search_fields = ("^number", "comment")
    autocomplete_fields = ("number_list",)
    readonly_fields = RECORD_FIELDS
    show_full_result_count = False  # no COUNT(*) over a million rows per page
    fieldsets = (
        (
            "Entry",
            {
                "fields": ("number_list", "match", "number", "range_end", "comment"),
                "description": "E.164 digits without '+' (33612345678). A prefix covers "
                "every number starting with its digits; a range its first to last number "
                "(as many digits each).",
            },
        ),
        RECORD_FIELDSET,
    )

    @admin.display(description="number(s)", ordering="number")
    def entry(self, obj: NumberListEntry) -> str:
        return str(obj)


@admin.register(RateDeck)
class RateDeckAdmin(RateImportMixin, SimpleHistoryAdmin):
    list_display = ("name", "owner_display", "currency", "rate_count")
    list_filter = ("currency",)
    list_select_related = ("carrier", "tenant")
    search_fields = ("name", "description", "carrier__name", "tenant__name")
    autocomplete_fields = ("carrier", "tenant")
    ordering = ("name",)  # the rate count drops the model's ordering (GROUP BY)
    readonly_fields = ("rates_link", *RECORD_FIELDS)
    fieldsets = (
        (
            None,
            {
                "fields": ("name", "carrier", "tenant", "currency", "description"),
                "description": "A carrier's deck: what it charges per minute for each "
                "destination prefix (least-cost rules order carriers by it). A tenant's "
                "deck: what the customer pays (margin protection). One owner each.",
            },
        ),
        ("Rates", {"fields": ("rates_link",)}),
        RECORD_FIELDSET,
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[RateDeck]:
        return super().get_queryset(request).annotate(n_rates=Count("rates"))

    @admin.display(description="owner")
    def owner_display(self, obj: RateDeck) -> str:
        return obj.owner

    @admin.display(description="rates", ordering="n_rates")
    def rate_count(self, obj: RateDeck) -> int:
        return obj.n_rates  # type: ignore[attr-defined]

    @admin.display(description="rates")
    def rates_link(self, obj: RateDeck) -> str:
        if obj.pk is None:
            return "Save the deck, then add its rates."
        count = getattr(obj, "n_rates", None)
        if count is None:
            count = obj.rates.count()
        return format_html(
            '<a href="{}?deck__id__exact={}">{} rates</a> (search, add)',
            reverse("admin:routing_rate_changelist"),
            obj.pk,
            count,
        )


@admin.register(Rate)
class RateAdmin(SimpleHistoryAdmin):
    list_display = (
        "prefix_display",
        "deck",
        "rate",
        "connect_fee",
        "billing",
        "effective_from",
        "effective_until",
        "description",
    )
    list_display_links = ("prefix_display",)
    list_filter = ("deck",)
    list_select_related = ("deck",)
    # Prefixes by their start (the deck/prefix index serves it), descriptions anywhere.
    search_fields = ("^prefix", "description")
    autocomplete_fields = ("deck",)
    readonly_fields = RECORD_FIELDS
    show_full_result_count = False
    fieldsets = (
        (
            "Rate",
            {
                "fields": (
                    "deck",
                    "prefix",
                    "rate",
                    "connect_fee",
                    "initial_increment",
                    "next_increment",
                    "effective_from",
                    "effective_until",
                    "description",
                ),
                "description": "E.164 digits without '+' (4420). The longest prefix with a "
                "rate in effect at the call's time applies; a future-dated rate takes "
                "effect at its time.",
            },
        ),
        RECORD_FIELDSET,
    )

    @admin.display(description="prefix", ordering="prefix")
    def prefix_display(self, obj: Rate) -> str:
        return obj.prefix or "(every number)"

    @admin.display(description="billing (s)")
    def billing(self, obj: Rate) -> str:
        return f"{obj.initial_increment}/{obj.next_increment}"


@admin.register(ExchangeRate)
class ExchangeRateAdmin(SimpleHistoryAdmin):
    list_display = ("currency", "rate_display", "updated_at")
    search_fields = ("currency",)
    readonly_fields = RECORD_FIELDS
    fieldsets = (
        (
            None,
            {
                "fields": ("currency", "rate"),
                "description": "What one unit of the currency is worth in the base currency "
                "(C4ROUTER_BASE_CURRENCY), e.g. EUR 1.08 when the base is USD. Least-cost "
                "rules whose carriers' decks are in several currencies order them by their "
                "cost in the base currency; margins against a sell deck in another currency, "
                "and a fixed markup on a deck in another currency, are converted with these. "
                "A carrier whose currency has none is left out of such a rule (the route "
                "tester says why).",
            },
        ),
        RECORD_FIELDSET,
    )

    @admin.display(description="worth (in the base currency)", ordering="rate")
    def rate_display(self, obj: ExchangeRate) -> str:
        return f"{plain(obj.rate)} {base_currency()}"


@admin.register(LnpRule)
class LnpRuleAdmin(SimpleHistoryAdmin):
    list_display = ("__str__", "tenant", "prefix", "enabled")
    list_editable = ("enabled",)
    list_filter = ("enabled", "tenant")
    list_select_related = ("tenant",)
    search_fields = ("^prefix", "description", "tenant__name")
    autocomplete_fields = ("tenant",)
    readonly_fields = RECORD_FIELDS
    fieldsets = (
        (
            "Which calls look the called number up",
            {
                "fields": ("tenant", "prefix", "enabled", "description"),
                "description": "Outbound calls of the tenant (empty: every tenant) to numbers "
                "starting with the prefix (E.164 digits, e.g. 1) look the called number up "
                "among the ported numbers. A ported number routes on its routing number "
                "(LRN); the Request-URI keeps the dialled number (carriers with 'send "
                "routing number' also get ;npdi;rn=+LRN).",
            },
        ),
        RECORD_FIELDSET,
    )


class PortedImportForm(CsvUploadForm):
    """The ported numbers' upload: full or delta, previewed (counted, nothing written)
    before it is applied, as `manage.py import_ported_numbers --dry-run` does."""

    mode = forms.ChoiceField(
        choices=[
            (
                imports_lnp.FULL,
                "Full: the file is the whole database (numbers not in it are removed)",
            ),
            (imports_lnp.DELTA, "Delta: only the file's numbers change (an empty lrn removes one)"),
        ],
        initial=imports_lnp.FULL,
        widget=forms.RadioSelect,
    )
    dry_run = forms.BooleanField(
        required=False,
        initial=True,
        label="Preview only",
        help_text="Check the whole file and count what would be new, changed, removed and "
        "unchanged; write nothing. Untick it to apply.",
    )


@admin.register(PortedNumber)
class PortedNumberAdmin(CsvImportExportMixin, admin.ModelAdmin):
    """The local portability database: tens of millions of rows, no per-row history
    (an import writes one log entry). Bulk loads: Import CSV (preview, then apply), the
    API's ported-numbers/import/ or manage.py import_ported_numbers."""

    csv_import_form = PortedImportForm
    csv_exporter = staticmethod(imports_lnp.export_ported_numbers)
    csv_filename = "ported-numbers.csv"
    csv_format_template = "admin/routing/csv_format_portednumber.html"
    csv_example_filename = "example-ported-numbers.csv"
    csv_example = (
        "number,lrn,effective_from\r\n"
        "12025331234,13035440000,\r\n"
        "12025331235,13035440000,2027-01-15T06:00:00Z\r\n"
    )

    list_display = ("number", "lrn", "effective_from")
    search_fields = ("^number", "^lrn")
    show_full_result_count = False  # no COUNT(*) over millions of rows per page
    fieldsets = (
        (
            "Ported number",
            {
                "fields": ("number", "lrn", "effective_from"),
                "description": "E.164 digits without '+'. A change here reaches routing "
                "within the reload interval, without rebuilding the whole table. The whole "
                "database is loaded with Import CSV (full, or delta for a refresh).",
            },
        ),
    )

    def run_csv_import(self, request: HttpRequest, upload: Any, data: dict[str, Any]) -> str:
        # Both modes may remove numbers (full: those not in the file; delta: empty lrn).
        if not data["dry_run"] and not (
            self.has_change_permission(request) and self.has_delete_permission(request)
        ):
            raise PermissionDenied("Applying an import needs the change and delete permissions.")
        filename = upload.name
        # In a child process at low priority (routing/import_process.py).
        result = import_process.run_ported_import(
            upload,
            delta=data["mode"] == imports_lnp.DELTA,
            dry_run=data["dry_run"],
            user=request.user,
            filename=f"“{filename}” (admin)",
        )
        if result.dry_run:
            return (
                f"Preview of “{filename}” ({data['mode']}): {result.summary}. Nothing was "
                "written: untick Preview only to apply."
            )
        return f"Imported “{filename}” ({data['mode']}): {result.summary}."


@admin.register(NormalizationRule)
class NormalizationRuleAdmin(SimpleHistoryAdmin):
    list_display = (
        "rule_summary",
        "owner_display",
        "direction",
        "applies_to",
        "priority",
        "example",
        "enabled",
        "in_routing_table",
    )
    list_display_links = ("rule_summary",)
    list_editable = ("enabled",)
    list_filter = ("enabled", "direction", "kind", "applies_to", OwnerKindFilter, "carrier")
    list_select_related = ("carrier", "pbx__tenant")
    search_fields = (
        "match_prefix",
        "add_prefix",
        "pattern",
        "description",
        "carrier__name",
        "pbx__name",
    )
    autocomplete_fields = ("carrier", "pbx")
    readonly_fields = (*RECORD_FIELDS, "in_routing_table")
    fieldsets = (
        (
            "Owner",
            {
                "fields": ("carrier", "pbx", "in_routing_table"),
                "description": "Choose exactly one: the carrier or PBX whose numbers this "
                "rule rewrites.",
            },
        ),
        (
            "Which numbers",
            {
                "fields": ("direction", "applies_to", "priority", "enabled", "description"),
                "description": "Inside c4router every number is E.164 digits without '+' "
                "(33123456789). Inbound rules turn what the peer sends into that form; "
                "outbound rules turn it into what the peer expects. The rules of one "
                "direction are tried by priority (lowest first); the first that matches "
                "applies, and a number no rule matches is kept as it is.",
            },
        ),
        (
            "Strip / prefix rule",
            {
                "fields": ("kind", "match_prefix", "strip", "add_prefix"),
                "description": "For a 'strip / prefix' rule: numbers starting with the match "
                "prefix lose 'strip' digits at the front, then get 'add prefix' in front. "
                "Example: match 0, strip 1, add 33 turns 0123456789 into 33123456789.",
            },
        ),
        (
            "Regular expression rule",
            {
                "fields": ("pattern", "replacement"),
                "description": r"For a 'regular expression' rule: the whole number must "
                r"match the pattern; the replacement builds the result, \1 being the first "
                r"group. Example: ^33(\d{9})$ → 0\1 turns 33123456789 into 0123456789.",
            },
        ),
        (
            "Test",
            {
                "fields": ("example_input", "example_output"),
                "description": "Optional: a number and what the rule must turn it into. "
                "Saving fails when the rule does something else, so a typo is caught now "
                "rather than on a live call.",
            },
        ),
        RECORD_FIELDSET,
    )

    @admin.display(description="rule")
    def rule_summary(self, obj: NormalizationRule) -> str:
        if obj.kind == RuleKind.REGEX:
            return f"{obj.pattern} → {obj.replacement}"
        return f"starts with {obj.match_prefix or 'anything'}: strip {obj.strip}, add " + (
            f"'{obj.add_prefix}'" if obj.add_prefix else "nothing"
        )

    @admin.display(description="owner")
    def owner_display(self, obj: NormalizationRule) -> str:
        if obj.carrier_id:
            return f"carrier {obj.carrier}"
        return f"PBX {obj.pbx}" if obj.pbx_id else "-"

    @admin.display(description="test")
    def example(self, obj: NormalizationRule) -> str:
        if not obj.example_input:
            return "-"
        return f"{obj.example_input} → {obj.example_output}"

    @admin.display(description="routing table")
    def in_routing_table(self, obj: NormalizationRule) -> str:
        """What the loader does with the rule: the engine's own compile says (the same call
        as routing.loader's), so the page and the live table agree."""
        if obj.pk is None:
            return "-"
        if not obj.enabled:
            return "not used (disabled)"
        problem = obj.engine_problem()
        return f"LEFT OUT: {problem}" if problem else "in use"

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> Any:
        # Rules the engine cannot run (saved before an upgrade, by a fixture or SQL: the
        # form refuses them) are left out of the routing table: say so on top of the list.
        rules = NormalizationRule.objects.filter(enabled=True, kind=RuleKind.REGEX)
        for rule in rules if request.method == "GET" else ():
            problem = rule.engine_problem()
            if problem:
                messages.warning(
                    request,
                    f"Normalization rule #{rule.pk} ({rule}) is left out of the routing "
                    f"table: {problem}. Fix or disable it.",
                )
        return super().changelist_view(request, extra_context)


# --- Routes ---------------------------------------------------------------------------------


@admin.register(RouteRule)
class RouteRuleAdmin(CsvImportExportMixin, SimpleHistoryAdmin):
    csv_importer = staticmethod(imports.import_route_rules)
    csv_exporter = staticmethod(imports.export_route_rules)
    csv_filename = "routes.csv"
    csv_format_template = "admin/routing/csv_format_routerule.html"
    csv_example_filename = "example-route-rules.csv"
    csv_example = (
        "tenant,name,prefix,priority,action,targets,reject_code,reject_reason\r\n"
        ",Spain,34,100,route,carrier:Alpha Telecom@0/60;carrier:Beta Voice@0/40,,\r\n"
        ",Italy,39,100,route,carrier:Beta Voice@0;gateway:Alpha Telecom/alpha-1@1,,\r\n"
        "Acme Corp,Acme to Germany,49,50,route,carrier:Gamma Carrier,,\r\n"
        ",Premium numbers,3389,100,reject,,403,Premium Numbers Blocked\r\n"
    )

    # What an operator scans for, in columns that fit beside the sidebar and the filters at
    # 1366 px: which calls (prefixes, scope, window in one cell), where they go (failover
    # steps with their weight shares), then priority and enabled.
    list_display = ("rule_name", "which_calls", "target_list", "priority", "enabled")
    list_display_links = ("rule_name",)
    list_editable = ("enabled",)
    list_filter = ("enabled", "action", "mode", ScopeFilter, TimeWindowFilter, "tenant")
    list_select_related = ("tenant",)
    search_fields = ("name", "prefix", "caller_prefix", "description", "tenant__name")
    search_help_text = "Name, destination prefix (e.g. 336), caller prefix or tenant."
    autocomplete_fields = ("tenant",)
    readonly_fields = RECORD_FIELDS
    fieldsets = (
        (
            "Identity",
            {
                "fields": ("name", "tenant", "enabled", "priority", "description"),
                "description": "An outbound route: which calls it takes, and the carriers "
                "they go to (the targets, below). Leave the tenant empty for a rule every "
                "tenant uses; a tenant's own rule wins over a global one with the same "
                "prefixes.",
            },
        ),
        (
            "What happens to the calls",
            {
                "fields": ("action", "reject_code", "reject_reason"),
                "description": "A rule routes its calls to its targets (below, at least "
                "one), or rejects them with the SIP code and reason you choose, e.g. 403 "
                "Forbidden to block a destination.",
            },
        ),
        (
            "Order of the targets",
            {
                "fields": ("mode", "band_percent"),
                "description": "Priority: the targets in their order, sharing by weight. "
                "Least cost: the carriers among the targets ordered by their rate deck's "
                "rate for the called number (ties: order, then weight); carriers without a "
                "rate, or costing more than the tenant pays (its sell deck and minimum "
                "margin), are left out.",
            },
        ),
        (
            "Which calls",
            {
                "fields": ("prefix", "caller_prefix"),
                "description": "Numbers are E.164 digits without '+'. The rule with the "
                "longest matching destination prefix wins (3361 beats 33); an empty prefix "
                "is the default route, taken when nothing else matches.",
            },
        ),
        (
            "Time window",
            {
                "fields": ("weekdays", "start_time", "end_time", "timezone"),
                "description": "Optional: the rule only applies on these days and hours. "
                "While its window is open it wins over an always-open rule with the same "
                "prefixes; when closed, the router falls back to that rule.",
                "classes": ("collapse",),
            },
        ),
        (
            "Call presentation",
            {
                "fields": ("caller_id", "from_display", "extra_headers"),
                "description": "Optional changes to calls sent through this rule.",
                "classes": ("collapse",),
            },
        ),
        RECORD_FIELDSET,
    )
    inlines = (RouteTargetInline,)
    object_history_template = "admin/routing/routerule/object_history.html"

    def history_view(self, request: HttpRequest, object_id: str, extra_context: Any = None) -> Any:
        # The rule's own records come from django-simple-history's view; its targets' records
        # (their own rows) are listed below them, as the API's history includes them.
        target_history = []
        if object_id.isdigit():
            target_history = target_changes(int(object_id))
        return super().history_view(
            request, object_id, {**(extra_context or {}), "target_history": target_history}
        )

    def get_queryset(self, request: HttpRequest) -> QuerySet[RouteRule]:
        targets = RouteTarget.objects.select_related("carrier", "gateway__carrier").order_by(
            "order", "id"
        )
        return super().get_queryset(request).prefetch_related(Prefetch("targets", targets))

    @admin.display(description="rule", ordering="name")
    def rule_name(self, obj: RouteRule) -> str:
        return obj.name or f"(unnamed, prefix {obj.prefix or 'default'})"

    @admin.display(description="which calls", ordering="prefix")
    def which_calls(self, obj: RouteRule) -> str:
        lines = [f"to {obj.prefix}…" if obj.prefix else "to any number (default route)"]
        if obj.caller_prefix:
            lines.append(f"from {obj.caller_prefix}…")
        lines.append(f"tenant {obj.tenant.name}" if obj.tenant_id else "every tenant")
        if obj.has_window:
            lines.append(self.window(obj))
        return format_html_join(mark_safe("<br>"), "{}", ((line,) for line in lines))

    def window(self, obj: RouteRule) -> str:
        days = f"days {obj.weekdays}" if obj.weekdays else "every day"
        if obj.start_time is None or obj.end_time is None:
            return f"{days} ({obj.timezone})"
        hours = f"{obj.start_time:%H:%M}-{obj.end_time:%H:%M}"
        return f"{days} {hours} ({obj.timezone})"

    @admin.display(description="targets, by failover step")
    def target_list(self, obj: RouteRule) -> str:
        if obj.rejects:
            return f"rejects: {obj.reject_code} {obj.reject_reason}"
        steps = target_steps(obj.targets.all())
        if not steps:
            return "none: calls matching this rule fail"
        return format_html_join(mark_safe("<br>"), "{}. {}", steps)


def target_changes(rule_id: int) -> list[dict[str, Any]]:
    """The history records of a rule's targets (routing.api.history's entries, newest
    first), with carriers and gateways named instead of their ids."""
    entries = object_history(RouteRule, rule_id, related=((RouteTarget, "rule_id"),))
    kind = str(RouteTarget._meta.verbose_name)
    entries = [entry for entry in entries if entry["object_type"] == kind]
    wanted: dict[str, set[int]] = {"carrier": set(), "gateway": set()}
    for entry in entries:
        for change in entry["changes"]:
            if change["field"] in wanted:
                wanted[change["field"]].update(v for v in (change["old"], change["new"]) if v)
    names = {
        "carrier": {c.pk: c.name for c in Carrier.objects.filter(pk__in=wanted["carrier"])},
        "gateway": {
            g.pk: f"gateway {g.name} ({g.carrier})"
            for g in Gateway.objects.filter(pk__in=wanted["gateway"]).select_related("carrier")
        },
    }
    for entry in entries:
        entry["changes"] = [c for c in entry["changes"] if c["field"] != "rule"]
        for change in entry["changes"]:
            known = names.get(change["field"])
            if known is not None:
                for side in ("old", "new"):
                    value = change[side]
                    if value is not None:
                        change[side] = known.get(value, f"{change['field']} #{value} (deleted)")
    return entries


def _target_label(target: RouteTarget) -> str:
    if target.gateway_id:
        return f"gateway {target.gateway.name} ({target.gateway.carrier})"
    return str(target.carrier)


def target_steps(targets: Any) -> list[tuple[int, str]]:
    """A rule's targets as failover steps, numbered from 1 by order: each step's targets with
    their share of its calls when it has more than one ("Delta Networks 60% · Gamma 40%")."""
    by_order: dict[int, list[RouteTarget]] = {}
    for target in targets:
        by_order.setdefault(target.order, []).append(target)
    steps = []
    for number, order in enumerate(sorted(by_order), start=1):
        group = by_order[order]
        total = sum(t.weight for t in group) or 1
        if len(group) == 1:
            text = _target_label(group[0])
        else:
            shares = (f"{_target_label(t)}\u00a0{round(100 * t.weight / total)}%" for t in group)
            text = " · ".join(shares)
        steps.append((number, text))
    return steps


# --- Router instances and the version -------------------------------------------------------


@admin.register(RouterInstance)
class RouterInstanceAdmin(SimpleHistoryAdmin):
    # The token is a secret: not in the list, not searchable, only on the change page.
    list_display = ("name", "listen", "transport", "api_url_count", "enabled")
    list_editable = ("enabled",)
    list_filter = ("enabled", "transport")
    search_fields = ("name", "listen_ip", "advertised_address", "description")
    readonly_fields = RECORD_FIELDS
    fieldsets = (
        (
            "Identity",
            {
                "fields": ("name", "enabled", "description"),
                "description": "A Kamailio server that asks c4router where to send each call. "
                "c4router renders its configuration from these settings.",
            },
        ),
        (
            "Where Kamailio listens",
            {"fields": ("listen_ip", "listen_port", "transport", "advertised_address")},
        ),
        (
            "How Kamailio asks c4router",
            {
                "fields": (
                    "api_urls",
                    "api_timeout_ms",
                    "api_breaker_failures",
                    "api_breaker_seconds",
                    "http_workers",
                    "token",
                ),
                "description": "The routing API addresses, tried in order, and the shared "
                "secret Kamailio sends with each query. Keep the token private. An URL that "
                "fails or times out as many times as the breaker says is skipped for its "
                "seconds, then tried again.",
            },
        ),
        (
            "Timers and failover",
            {
                "fields": ("children", "fr_timer", "fr_inv_timer", "failover_codes"),
                "description": "Defaults for gateways and PBXs that set no timers of their "
                "own, and the carrier answers that make Kamailio try the next route.",
                "classes": ("collapse",),
            },
        ),
        RECORD_FIELDSET,
    )

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or self.has_change_permission(request, obj):
            return fieldsets
        # The token authenticates Kamailio to the routing endpoint: a view-only user sees its
        # last characters (which token an instance has), not the token. Whoever may change
        # the instance may set a new token anyway, so seeing it reveals nothing to them (the
        # API's rule too: RouterInstanceSerializer).
        return [
            (name, {**options, "fields": [
                "token_hint" if field == "token" else field for field in options["fields"]
            ]})
            for name, options in fieldsets
        ]  # fmt: skip

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return (*super().get_readonly_fields(request, obj), "token_hint")

    @admin.display(description="token")
    def token_hint(self, obj: RouterInstance) -> str:
        return f"…{obj.token[-4:]} (only users who may change the instance see the token)"

    @admin.display(description="listens on", ordering="listen_ip")
    def listen(self, obj: RouterInstance) -> str:
        host = f"[{obj.listen_ip}]" if ":" in obj.listen_ip else obj.listen_ip
        return f"{host}:{obj.listen_port}"

    @admin.display(description="API URLs")
    def api_url_count(self, obj: RouterInstance) -> int:
        return len([line for line in obj.api_urls.splitlines() if line.strip()])


@admin.register(HealthPolicy)
class HealthPolicyAdmin(SimpleHistoryAdmin):
    list_display = ("name", "probing", "probe_interval", "down_after", "up_after",
                    "alive_codes", "down_policy", "demote", "user_count")  # fmt: skip
    search_fields = ("name",)
    readonly_fields = RECORD_FIELDS
    fieldsets = (
        ("Identity", {"fields": ("name",), "description": HEALTH_HELP}),
        (
            "Probing (SIP OPTIONS from Kamailio)",
            {
                "fields": (
                    "probing",
                    "probe_interval",
                    "down_after",
                    "up_after",
                    "alive_codes",
                    "down_policy",
                )
            },
        ),
        (
            "Passive demotion (from the call records)",
            {
                "fields": (
                    "demote",
                    "demote_codes",
                    "demote_window",
                    "demote_min_attempts",
                    "demote_start",
                    "demote_end",
                ),
                "description": "Over the window, once a gateway has the minimum attempts: "
                "below the start share of failures it is always used, from start to end it "
                "is skipped with a probability rising linearly to 100%.",
            },
        ),
        RECORD_FIELDSET,
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[HealthPolicy]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                n_carriers=Count("carriers", distinct=True),
                n_gateways=Count("gateways", distinct=True),
            )
        )

    @admin.display(description="used by")
    def user_count(self, obj: HealthPolicy) -> str:
        return f"{obj.n_carriers} carriers, {obj.n_gateways} gateways"  # type: ignore[attr-defined]


@admin.register(RoutingVersion)
class RoutingVersionAdmin(admin.ModelAdmin):
    """Read-only: the number every change bumps and every worker polls."""

    list_display = ("__str__", "version", "changed_at")
    readonly_fields = ("version", "changed_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# Call records (read-only list and CSV export): routing/admin_cdr.py.
from routing import admin_cdr  # noqa: E402, F401
