"""The admin's call records: a read-only list with filters, and its CSV export, streamed.

Registered from routing/admin.py. The table holds millions of rows a day, so the list
never counts more than COUNT_CAP rows, offers no date hierarchy (a DISTINCT over the table)
and filters by ids the small tables name: carrier, gateway and tenant names are read once
per page, not per row.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.urls import URLPattern, path
from django.utils import timezone
from django.utils.functional import cached_property

from routing.models import CallRecord, Carrier, Gateway, RouteRule, Tenant

COUNT_CAP = 10_000
EXPORT_COLUMNS = (
    "start_time", "end_time", "kind", "call_id", "attempt", "attempts", "direction",
    "tenant_id", "pbx_id", "source_carrier_id", "rule_id", "carrier_id", "gateway_id",
    "source_ip", "caller_in", "callee_in", "caller", "callee", "caller_out", "callee_out",
    "sip_code", "sip_reason", "q850_cause", "pdd_ms", "answer_ms", "duration_ms", "hangup",
    "lrn", "currency", "rate", "sell_rate", "billed_seconds", "cost", "revenue", "margin",
)  # fmt: skip
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    """One CSV cell: text a spreadsheet would run as a formula gets a leading quote."""
    if value is None:
        return ""
    if isinstance(value, int | Decimal):
        return str(value)  # a number, even a negative margin, is no formula
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


class CappedCountPaginator(Paginator):
    """Counts at most COUNT_CAP + 1 rows (a COUNT(*) over a month of records takes seconds):
    past it, the list says "10000" and offers that many pages' worth."""

    @cached_property
    def count(self) -> int:
        query = self.object_list
        if not isinstance(query, QuerySet):
            return len(query)
        return query.order_by()[: COUNT_CAP + 1].count()


class _IdFilter(admin.SimpleListFilter):
    """A filter on an id column, offering the names of a small table."""

    model: type = Carrier
    column = ""

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(str(pk), str(name)) for pk, name in self.names()]

    def names(self) -> list[tuple[int, str]]:
        return list(self.model.objects.order_by("name").values_list("pk", "name"))

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if value and value.isdigit():
            return queryset.filter(**{self.column: int(value)})
        return queryset


class CarrierFilter(_IdFilter):
    title, parameter_name, model, column = "carrier", "carrier", Carrier, "carrier_id"


class GatewayFilter(_IdFilter):
    title, parameter_name, model, column = "gateway", "gateway", Gateway, "gateway_id"

    def names(self) -> list[tuple[int, str]]:
        rows = Gateway.objects.select_related("carrier").order_by("carrier__name", "name")
        return [(g.pk, f"{g.carrier.name}/{g.name}") for g in rows]


class TenantFilter(_IdFilter):
    title, parameter_name, model, column = "tenant", "tenant", Tenant, "tenant_id"


class StartedFilter(admin.SimpleListFilter):
    """A time range: the last hour, day or week (an exact range: ?start_time__gte=...&
    start_time__lt=... in the address, ISO 8601)."""

    title, parameter_name = "started", "started"
    RANGES = {"1h": timedelta(hours=1), "24h": timedelta(days=1), "7d": timedelta(days=7)}

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("1h", "last hour"), ("24h", "last 24 hours"), ("7d", "last 7 days")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        since = self.RANGES.get(self.value() or "")
        return queryset.filter(start_time__gte=timezone.now() - since) if since else queryset


class SipCodeFilter(admin.SimpleListFilter):
    title, parameter_name = "SIP code", "code"
    COMMON = (200, 404, 408, 480, 486, 487, 500, 502, 503, 603)

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        classes = [("2xx", "2xx answered"), ("4xx", "4xx"), ("5xx", "5xx"), ("6xx", "6xx")]
        return classes + [(str(code), str(code)) for code in self.COMMON]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value() or ""
        if len(value) == 3 and value.endswith("xx") and value[0] in "2456":
            low = int(value[0]) * 100
            return queryset.filter(sip_code__gte=low, sip_code__lt=low + 100)
        if value.isdigit():
            return queryset.filter(sip_code=int(value))
        return queryset


@admin.register(CallRecord)
class CallRecordAdmin(admin.ModelAdmin):
    """Read-only: Kamailio writes the records, nobody edits them."""

    list_display = (
        "start_time", "kind", "attempt", "direction", "tenant", "carrier", "gateway", "callee",
        "lrn", "callee_out", "sip_code", "sip_reason", "pdd_ms", "duration_s", "hangup",
        "cost", "revenue", "margin", "currency", "call_id",
    )  # fmt: skip
    list_filter = (
        StartedFilter, "kind", "direction", TenantFilter, CarrierFilter, GatewayFilter,
        SipCodeFilter, "hangup",
    )  # fmt: skip
    # Number prefixes: ^ is "starts with" (an index on callee serves it); = the exact Call-ID.
    search_fields = ("^callee", "^callee_in", "^caller", "=call_id")
    search_help_text = "Called or calling number prefix (E.164 or as received), or a Call-ID."
    paginator = CappedCountPaginator
    show_full_result_count = False
    list_per_page = 100
    change_list_template = "admin/routing/callrecord/change_list.html"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        # An exact time range in the address (the dashboard links here with one).
        if lookup in ("start_time__gte", "start_time__lt", "rule_id", "call_id"):
            return True
        return super().lookup_allowed(lookup, value, request)

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        # The names shown in the list, read once for the page (small tables).
        self._names = {
            "tenant": dict(Tenant.objects.values_list("pk", "name")),
            "carrier": dict(Carrier.objects.values_list("pk", "name")),
            "gateway": dict(Gateway.objects.values_list("pk", "name")),
            "rule": dict(RouteRule.objects.values_list("pk", "name")),
        }
        return super().changelist_view(request, extra_context)

    def _name(self, kind: str, pk: int | None) -> str:
        if pk is None:
            return "-"
        return getattr(self, "_names", {}).get(kind, {}).get(pk) or f"#{pk}"

    @admin.display(description="tenant")
    def tenant(self, obj: CallRecord) -> str:
        return self._name("tenant", obj.tenant_id)

    @admin.display(description="carrier")
    def carrier(self, obj: CallRecord) -> str:
        return self._name("carrier", obj.carrier_id or obj.source_carrier_id)

    @admin.display(description="gateway")
    def gateway(self, obj: CallRecord) -> str:
        return self._name("gateway", obj.gateway_id)

    @admin.display(description="duration (s)")
    def duration_s(self, obj: CallRecord) -> str:
        return "" if obj.duration_ms is None else f"{obj.duration_ms / 1000:.1f}"

    def get_urls(self) -> list[URLPattern]:
        info = self.opts.app_label, self.opts.model_name
        export = path(
            "export/",
            self.admin_site.admin_view(self.export_csv_view),
            name="{}_{}_export".format(*info),
        )
        return [export, *super().get_urls()]

    def export_csv_view(self, request: HttpRequest) -> StreamingHttpResponse:
        """The list's rows (its filters and search) as CSV, streamed: no row count, no
        page limit, a few thousand rows in memory at a time."""
        if not self.has_view_permission(request):
            from django.core.exceptions import PermissionDenied

            raise PermissionDenied
        changelist = self.get_changelist_instance(request)
        queryset = changelist.get_queryset(request).values_list(*EXPORT_COLUMNS)
        response = StreamingHttpResponse(_csv_lines(queryset), content_type="text/csv")
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        response["Content-Disposition"] = f'attachment; filename="call-records-{stamp}.csv"'
        return response


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_lines(queryset: QuerySet) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(EXPORT_COLUMNS)
    # A server-side cursor on PostgreSQL: rows come as they are written out.
    chunk = 2000 if connections[queryset.db].vendor == "postgresql" else 500
    for row in queryset.iterator(chunk_size=chunk):
        yield writer.writerow([csv_cell(value) for value in row])
