"""ModelViewSets of the configuration API: queryset, serializer, filterset, and little else.

Every viewset also has a read-only `history` action (GET .../{id}/history/). Route rules,
DIDs and number list entries have `import` (POST a CSV) and `export` (GET the CSV) actions
calling routing.imports, the same services as the manage.py commands.
"""

from __future__ import annotations

import functools
from typing import Any

from django.db.models import Count, ProtectedError, RestrictedError
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import exceptions, status, viewsets
from rest_framework.decorators import action
from rest_framework.pagination import CursorPagination
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import DjangoModelPermissions, IsAuthenticated
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from routing import import_process, imports, imports_limits, imports_lnp
from routing.admin_log import ADDITION, CHANGE, DELETION, log_action, log_import
from routing.api import filtersets, serializers
from routing.api.history import object_history
from routing.api.schema import RoutingAutoSchema
from routing.imports_rates import RATES_COMMAND, rates_exporter
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
    RouteTarget,
    Tenant,
)
from routing.streaming import StreamingCsvResponse

VIEW_PERMISSION = ["%(app_label)s.view_%(model_name)s"]
# What a multipart upload adds to its file: boundaries, headers, the form's other fields.
MULTIPART_SLACK = 64 * 1024


class ModelPermissions(DjangoModelPermissions):
    """Authenticated users only; reading needs the model's view permission, writing the
    add/change/delete one (DRF's default lets any authenticated user read)."""

    perms_map = {
        **DjangoModelPermissions.perms_map,
        "GET": VIEW_PERMISSION,
        "HEAD": VIEW_PERMISSION,
        "OPTIONS": VIEW_PERMISSION,
    }


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "This object is still in use."
    default_code = "conflict"


class RoutingViewSet(viewsets.ModelViewSet):
    """CRUD on one routing model, plus its audit history."""

    permission_classes = [ModelPermissions]
    schema = RoutingAutoSchema()
    lookup_value_regex = r"[0-9]+"
    # Children whose history is part of this object's (model, foreign key attname).
    history_related: tuple[tuple[type, str], ...] = ()

    # Each write is listed in the admin's "Recent actions" too (routing.admin_log).
    def perform_create(self, serializer: Any) -> None:
        super().perform_create(serializer)
        instance = serializer.instance
        log_action(self.request.user, type(instance), ADDITION, "Added through the API.", instance)

    def perform_update(self, serializer: Any) -> None:
        super().perform_update(serializer)
        instance = serializer.instance
        log_action(self.request.user, type(instance), CHANGE, "Changed through the API.", instance)

    def perform_destroy(self, instance: Any) -> None:
        described, model = str(instance), type(instance)
        try:
            instance.delete()
        except (ProtectedError, RestrictedError) as exc:
            used_by = sorted({str(obj) for obj in list(exc.args[1])[:5]})
            raise Conflict(
                f"Cannot delete {instance._meta.verbose_name} '{instance}': it is used by "
                f"{', '.join(used_by)}. Delete or change those first."
            ) from None
        log_action(self.request.user, model, DELETION, "Deleted through the API.", repr_=described)

    @extend_schema(
        summary="Audit history: who changed what, when (newest first)",
        responses=serializers.HistoryRecordSerializer(many=True),
        filters=False,
    )
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def history(self, request: Request, pk: str | None = None) -> Response:
        model = self.get_queryset().model
        entries = object_history(model, int(pk or 0), related=self.history_related)
        if not entries:
            raise exceptions.NotFound()
        return Response(serializers.HistoryRecordSerializer(entries, many=True).data)


class TenantViewSet(RoutingViewSet):
    queryset = Tenant.objects.all()
    serializer_class = serializers.TenantSerializer
    filterset_class = filtersets.TenantFilterSet
    ordering_fields = ["id", "name", "created_at", "updated_at"]


class DomainViewSet(RoutingViewSet):
    queryset = Domain.objects.all()
    serializer_class = serializers.DomainSerializer
    filterset_class = filtersets.DomainFilterSet
    ordering_fields = ["id", "name", "created_at", "updated_at"]


class PbxViewSet(RoutingViewSet):
    queryset = Pbx.objects.select_related("tenant")
    serializer_class = serializers.PbxSerializer
    filterset_class = filtersets.PbxFilterSet
    ordering_fields = ["id", "name", "host", "created_at", "updated_at"]


class CarrierViewSet(RoutingViewSet):
    queryset = Carrier.objects.all()
    serializer_class = serializers.CarrierSerializer
    filterset_class = filtersets.CarrierFilterSet
    ordering_fields = ["id", "name", "created_at", "updated_at"]


class GatewayViewSet(RoutingViewSet):
    queryset = Gateway.objects.select_related("carrier", "health")
    serializer_class = serializers.GatewaySerializer
    filterset_class = filtersets.GatewayFilterSet
    ordering_fields = ["id", "name", "host", "weight", "created_at", "updated_at"]


class IpSourceViewSet(RoutingViewSet):
    queryset = IpSource.objects.select_related("carrier", "pbx__tenant")
    serializer_class = serializers.IpSourceSerializer
    filterset_class = filtersets.IpSourceFilterSet
    ordering_fields = ["id", "cidr", "created_at", "updated_at"]


IMPORT_SCHEMA = extend_schema(
    summary="Import a CSV file (all or nothing)",
    request={"multipart/form-data": serializers.ImportRequestSerializer},
    responses={
        200: serializers.ImportResultSerializer,
        400: serializers.ImportErrorSerializer,
        413: serializers.ImportErrorSerializer,
    },
    filters=False,
)
EXPORT_SCHEMA = extend_schema(
    summary="Export as CSV (the import format)",
    responses={(200, "text/csv"): OpenApiTypes.STR},
    filters=False,
)


def checked_upload(
    request: Request, serializer_class: type[Any], command: str | None = None
) -> tuple[Any, Response | None]:
    """The import request's validated form, or the answer refusing it: 413 over
    C4ROUTER_IMPORT_MAX_BYTES (`command` named as the way for bigger files), asked of the
    declared length before the body is parsed (a request far over the limit is not read
    any further: its multipart envelope and form fields add a few hundred bytes to the
    file), then of the file itself; 400 for a bad form."""
    size_error = imports.upload_size_error
    if command is not None:
        size_error = functools.partial(imports.upload_size_error, command=command)
    declared = request.META.get("CONTENT_LENGTH") or ""
    if declared.isdigit() and size_error(int(declared) - MULTIPART_SLACK):
        body = {"file": [size_error(int(declared))]}
        return None, CsvImportExportMixin._upload_refused(
            body, status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
        )
    form = serializer_class(data=request.data)
    if not form.is_valid():
        return None, CsvImportExportMixin._upload_refused(form.errors, status.HTTP_400_BAD_REQUEST)
    too_large = size_error(form.validated_data["file"].size)
    if too_large:
        return None, CsvImportExportMixin._upload_refused(
            {"file": [too_large]}, status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
        )
    return form, None


class CsvImportExportMixin:
    """`import` and `export` actions over a routing.imports importer/exporter pair."""

    importer: Any
    exporter: Any
    export_filename: str
    # The upload's form; run_import() does the import (ported numbers: their own).
    import_request_serializer: type[serializers.serializers.Serializer] = (
        serializers.ImportRequestSerializer
    )

    @IMPORT_SCHEMA
    @action(
        detail=False,
        methods=["post"],
        url_path="import",
        parser_classes=[MultiPartParser, FormParser],
        pagination_class=None,
        filter_backends=[],
    )
    def import_csv(self, request: Request) -> Response:
        return self._import(request)

    @EXPORT_SCHEMA
    @action(
        detail=False, methods=["get"], url_path="export", pagination_class=None, filter_backends=[]
    )
    def export_csv(self, request: Request) -> StreamingCsvResponse:
        return self._export(request)

    def _import(self, request: Request) -> Response:
        form, refused = checked_upload(request, self.import_request_serializer)
        if refused is not None:
            return refused
        upload = form.validated_data["file"]
        try:
            return self.run_import(request, upload, form.validated_data)
        except imports.ImportFailed as exc:
            body = {"detail": str(exc.summary), "errors": [e.as_dict() for e in exc.errors]}
            return Response(body, status=status.HTTP_400_BAD_REQUEST)

    def run_import(self, request: Request, upload: Any, data: dict[str, Any]) -> Response:
        """Import the `upload` (a Django UploadedFile) with the form's `data`; raises
        ImportFailed (nothing written)."""
        mode = data["mode"]
        model = self.get_queryset().model  # type: ignore[attr-defined]
        if mode != "add" and not request.user.has_perm(
            f"{model._meta.app_label}.delete_{model._meta.model_name}"
        ):
            raise exceptions.PermissionDenied("Replacing rows needs the delete permission.")
        # In a child process at low priority (routing/import_process.py).
        result = import_process.run_import(
            type(self).importer,
            upload,
            mode=mode,
            dry_run=data["dry_run"],
            user=request.user,
            change_reason=f"API import of {upload.name}"[:100],
        )
        log_import(request.user, model, upload.name, result, "API")
        return Response(serializers.ImportResultSerializer(result.as_dict()).data)

    @staticmethod
    def _upload_refused(errors: Any, code: int) -> Response:
        # The same shape as a refused file, so that clients read one kind of error.
        items = [
            {"line": None, "field": name, "message": str(message)}
            for name, messages in errors.items()
            for message in messages
        ]
        body = {"detail": "Invalid upload; nothing was imported.", "errors": items}
        return Response(body, status=code)

    def _export(self, request: Request) -> StreamingCsvResponse:
        # Streamed a batch of rows at a time: memory stays flat whatever the table's size.
        return StreamingCsvResponse(type(self).exporter.chunks(), self.export_filename)


class DidViewSet(CsvImportExportMixin, RoutingViewSet):
    queryset = Did.objects.select_related("tenant", "pbx")
    serializer_class = serializers.DidSerializer
    filterset_class = filtersets.DidFilterSet
    ordering_fields = ["id", "number", "created_at", "updated_at"]
    importer = staticmethod(imports.import_dids)
    exporter = staticmethod(imports.export_dids)
    export_filename = "dids.csv"


class CapacityLimitViewSet(CsvImportExportMixin, viewsets.GenericViewSet):
    """Capacity limits of tenants, PBXs, IP sources, carriers and gateways, as one CSV file
    (routing/imports_limits.py): `export/` (`?limited_only=true`: only the objects with a
    limit) and `import/` (existing objects only; each kind in the file needs the change
    permission on that kind)."""

    permission_classes = [IsAuthenticated]  # each kind's permissions, checked below
    import_request_serializer = serializers.LimitImportRequestSerializer
    importer = staticmethod(imports_limits.import_limits)
    export_filename = "capacity-limits.csv"

    @extend_schema(
        summary="Import capacity limits from CSV (all or nothing)",
        request={"multipart/form-data": serializers.LimitImportRequestSerializer},
        responses={
            200: serializers.LimitImportResultSerializer,
            400: serializers.ImportErrorSerializer,
            403: serializers.ImportErrorSerializer,
            413: serializers.ImportErrorSerializer,
        },
        filters=False,
    )
    @action(
        detail=False,
        methods=["post"],
        url_path="import",
        parser_classes=[MultiPartParser, FormParser],
        pagination_class=None,
        filter_backends=[],
    )
    def import_csv(self, request: Request) -> Response:
        if not any(request.user.has_perm(imports_limits.change_permission(k))
                   for k in imports_limits.KINDS):  # fmt: skip
            raise exceptions.PermissionDenied(
                "Importing limits needs the change permission on tenants, PBXs, IP sources, "
                "carriers or gateways."
            )
        return self._import(request)

    def run_import(self, request: Request, upload: Any, data: dict[str, Any]) -> Response:
        # In a child process at low priority (routing/import_process.py); a kind the user may
        # not change is an error naming its lines (routing.imports_limits).
        result = import_process.run_import(
            imports_limits.import_limits,
            upload,
            mode=imports_limits.UPDATE,
            dry_run=data["dry_run"],
            user=request.user,
            change_reason=f"API import of {upload.name}"[:100],
        )
        body = {"updated": result.updated, "unchanged": result.unchanged, "dry_run": result.dry_run}
        return Response(serializers.LimitImportResultSerializer(body).data)

    @extend_schema(
        summary="Export capacity limits as CSV (the import format)",
        parameters=[
            OpenApiParameter("limited_only", bool, description="Only the objects with a limit set.")
        ],
        responses={(200, "text/csv"): OpenApiTypes.STR},
        filters=False,
    )
    @action(
        detail=False, methods=["get"], url_path="export", pagination_class=None, filter_backends=[]
    )
    def export_csv(self, request: Request) -> StreamingCsvResponse:
        # The kinds this user may see; none: refused.
        kinds = [k for k in imports_limits.KINDS
                 if request.user.has_perm(imports_limits.view_permission(k))]  # fmt: skip
        if not kinds:
            raise exceptions.PermissionDenied()
        limited = request.query_params.get("limited_only", "").lower() in ("1", "true", "yes")
        chunks = imports_limits.export_limit_chunks(limited_only=limited, kinds=kinds)
        return StreamingCsvResponse(chunks, self.export_filename)


class JsonFormBrowsableAPIRenderer(BrowsableAPIRenderer):
    """The browsable API with its raw (JSON) form only: DRF's HTML form cannot edit a nested
    list (a route rule's targets) and would save a rule without them."""

    def get_rendered_html_form(self, data: Any, view: Any, method: str, request: Any) -> Any:
        return None


class RouteRuleViewSet(CsvImportExportMixin, RoutingViewSet):
    queryset = RouteRule.objects.select_related("tenant").prefetch_related("targets")
    serializer_class = serializers.RouteRuleSerializer
    filterset_class = filtersets.RouteRuleFilterSet
    ordering_fields = ["id", "prefix", "caller_prefix", "priority", "name", "updated_at"]
    history_related = ((RouteTarget, "rule_id"),)
    renderer_classes = [JSONRenderer, JsonFormBrowsableAPIRenderer]
    importer = staticmethod(imports.import_route_rules)
    exporter = staticmethod(imports.export_route_rules)
    export_filename = "routes.csv"


class NumberListViewSet(RoutingViewSet):
    # The entry count: one index-only count per list of the page.
    queryset = NumberList.objects.annotate(entry_count=Count("entries"))
    serializer_class = serializers.NumberListSerializer
    filterset_class = filtersets.NumberListFilterSet
    ordering_fields = ["id", "name", "created_at", "updated_at"]


class NumberListEntryViewSet(CsvImportExportMixin, RoutingViewSet):
    queryset = NumberListEntry.objects.select_related("number_list")
    serializer_class = serializers.NumberListEntrySerializer
    filterset_class = filtersets.NumberListEntryFilterSet
    ordering_fields = ["id", "number", "created_at", "updated_at"]
    importer = staticmethod(imports.import_list_entries)
    exporter = staticmethod(imports.export_list_entries)
    export_filename = "number-list-entries.csv"


class LnpRuleViewSet(RoutingViewSet):
    queryset = LnpRule.objects.select_related("tenant")
    serializer_class = serializers.LnpRuleSerializer
    filterset_class = filtersets.LnpRuleFilterSet
    ordering_fields = ["id", "prefix", "created_at", "updated_at"]


@extend_schema_view(
    import_csv=extend_schema(
        summary="Import ported numbers from CSV: full or delta, preview (dry_run) then apply",
        request={"multipart/form-data": serializers.PortedImportRequestSerializer},
        responses={
            200: serializers.PortedImportResultSerializer,
            400: serializers.ImportErrorSerializer,
            413: serializers.ImportErrorSerializer,
        },
        filters=False,
    )
)
class PortedNumberViewSet(CsvImportExportMixin, RoutingViewSet):
    """Ported numbers one by one, or a CSV file at a time (import: full or delta, with a
    dry_run preview of the counts; export). No per-row history (tens of millions of
    rows): no history route; an import writes one admin log entry."""

    queryset = PortedNumber.objects.all()
    serializer_class = serializers.PortedNumberSerializer
    filterset_class = filtersets.PortedNumberFilterSet
    ordering_fields = ["id", "number", "lrn"]
    history = None  # type: ignore[assignment]
    import_request_serializer = serializers.PortedImportRequestSerializer
    exporter = staticmethod(imports_lnp.export_ported_numbers)
    export_filename = "ported-numbers.csv"

    def run_import(self, request: Request, upload: Any, data: dict[str, Any]) -> Response:
        # Both modes may remove numbers (full: those not in the file; delta: an empty lrn).
        if not data["dry_run"] and not (
            request.user.has_perm("routing.change_portednumber")
            and request.user.has_perm("routing.delete_portednumber")
        ):
            raise exceptions.PermissionDenied(
                "Applying an import needs the change and delete permissions."
            )
        # In a child process at low priority, as the other imports (import_process).
        result = import_process.run_ported_import(
            upload,
            delta=data["mode"] == imports_lnp.DELTA,
            dry_run=data["dry_run"],
            user=request.user,
            filename=f"{upload.name} (API)",
        )
        return Response(serializers.PortedImportResultSerializer(result.as_dict()).data)


class NormalizationRuleViewSet(RoutingViewSet):
    queryset = NormalizationRule.objects.select_related("carrier", "pbx__tenant")
    serializer_class = serializers.NormalizationRuleSerializer
    filterset_class = filtersets.NormalizationRuleFilterSet
    ordering_fields = ["id", "priority", "direction", "created_at", "updated_at"]


class HealthPolicyViewSet(RoutingViewSet):
    queryset = HealthPolicy.objects.all()
    serializer_class = serializers.HealthPolicySerializer
    filterset_class = filtersets.HealthPolicyFilterSet
    ordering_fields = ["id", "name", "created_at", "updated_at"]


class RouterInstanceViewSet(RoutingViewSet):
    queryset = RouterInstance.objects.all()
    serializer_class = serializers.RouterInstanceSerializer
    filterset_class = filtersets.RouterInstanceFilterSet
    ordering_fields = ["id", "name", "created_at", "updated_at"]


class CallRecordPagination(CursorPagination):
    """Pages by position in time, newest first: no COUNT(*) over millions of records, and a
    page stays stable while new records arrive."""

    ordering = ("-start_time", "-id")
    page_size = 100
    page_size_query_param = "limit"
    max_page_size = 1000


class CallRecordViewSet(viewsets.ReadOnlyModelViewSet):
    """Call records (routing.cdr): read-only, the view permission of call records needed."""

    queryset = CallRecord.objects.all()
    serializer_class = serializers.CallRecordSerializer
    filterset_class = filtersets.CallRecordFilterSet
    permission_classes = [ModelPermissions]
    pagination_class = CallRecordPagination
    ordering_fields = ["start_time"]
    lookup_value_regex = r"[0-9]+"


class RateDeckViewSet(RoutingViewSet):
    queryset = RateDeck.objects.annotate(rate_count=Count("rates"))
    serializer_class = serializers.RateDeckSerializer
    filterset_class = filtersets.RateDeckFilterSet
    ordering_fields = ["id", "name", "created_at", "updated_at"]

    @extend_schema(
        summary="Export the deck's rates in effect (now, or ?at=) as CSV, the import format",
        parameters=[
            OpenApiParameter(
                "at",
                OpenApiTypes.DATETIME,
                description="ISO 8601 date-time with its offset; default: now.",
            )
        ],
        responses={(200, "text/csv"): OpenApiTypes.STR, 400: serializers.ImportErrorSerializer},
        filters=False,
    )
    @action(
        detail=True,
        methods=["get"],
        url_path="export",
        pagination_class=None,
        filter_backends=[],
        permission_classes=[IsAuthenticated],  # the rates' view permission, checked below
    )
    def export_rates(self, request: Request, pk: str | None = None) -> Any:
        if not request.user.has_perms(["routing.view_ratedeck", "routing.view_rate"]):
            raise exceptions.PermissionDenied()
        deck = self.get_object()
        at = None
        raw = request.query_params.get("at")
        if raw is not None:
            try:
                at = parse_datetime(raw) if len(raw) <= 64 else None
            except ValueError:  # well formed, not a date: 2026-13-01T00:00Z
                at = None
            if at is None or at.tzinfo is None:
                body = {
                    "detail": "Invalid parameter; nothing was exported.",
                    "errors": [
                        {
                            "line": None,
                            "field": "at",
                            "message": "An ISO 8601 date-time with its offset, "
                            "e.g. 2026-12-01T00:00+00:00.",
                        }
                    ],
                }
                return Response(body, status=status.HTTP_400_BAD_REQUEST)
        return StreamingCsvResponse(rates_exporter(deck, at).chunks(), f"rates-{deck.pk}.csv")

    @extend_schema(
        summary="Import the deck's rates from CSV: preview, or apply at a date (all or nothing)",
        request={"multipart/form-data": serializers.RateImportRequestSerializer},
        responses={
            200: serializers.RateImportResultSerializer,
            400: serializers.ImportErrorSerializer,
            413: serializers.ImportErrorSerializer,
        },
        filters=False,
    )
    @action(
        detail=True,
        methods=["post"],
        url_path="import",
        parser_classes=[MultiPartParser, FormParser],
        pagination_class=None,
        filter_backends=[],
        permission_classes=[IsAuthenticated],  # the rates' permissions, checked below
    )
    def import_rates(self, request: Request, pk: str | None = None) -> Response:
        if not request.user.has_perm("routing.view_ratedeck"):
            raise exceptions.PermissionDenied()
        deck = self.get_object()
        form, refused = checked_upload(
            request, serializers.RateImportRequestSerializer, RATES_COMMAND
        )
        if refused is not None:
            return refused
        upload = form.validated_data["file"]
        preview = form.validated_data["preview"]
        # A preview reads the rates; an apply adds, ends and deletes them.
        needed = ["view_rate"] if preview else ["add_rate", "change_rate", "delete_rate"]
        if not request.user.has_perms([f"routing.{name}" for name in needed]):
            raise exceptions.PermissionDenied(
                "Previewing needs the view permission of rates; applying, the add, change "
                "and delete ones."
            )
        try:
            # In a child process at low priority, as the other imports (import_process).
            with import_process.upload_path(upload) as path:
                result = import_process.run_rate_import(
                    deck,
                    path,
                    effective_from=form.validated_data.get("effective_from"),
                    mode=form.validated_data["mode"],
                    preview=preview,
                    user=request.user,
                    filename=f"API upload {upload.name}",
                )
        except imports.ImportFailed as exc:
            items = [{**e.as_dict(), "line": e.line or None} for e in exc.errors]
            body = {"detail": str(exc.summary), "errors": items}
            return Response(body, status=status.HTTP_400_BAD_REQUEST)
        except UnicodeDecodeError:
            body = {
                "detail": "Invalid upload; nothing was imported.",
                "errors": [{"line": None, "field": "file", "message": "Not UTF-8 text."}],
            }
            return Response(body, status=status.HTTP_400_BAD_REQUEST)
        return Response(serializers.RateImportResultSerializer(result.as_dict()).data)


class ExchangeRateViewSet(RoutingViewSet):
    """What one unit of a currency is worth in the base currency (C4ROUTER_BASE_CURRENCY):
    least-cost rules compare carriers, and margins, across currencies with them."""

    queryset = ExchangeRate.objects.all()
    serializer_class = serializers.ExchangeRateSerializer
    filterset_class = filtersets.ExchangeRateFilterSet
    ordering_fields = ["id", "currency", "rate", "created_at", "updated_at"]


class RateViewSet(RoutingViewSet):
    queryset = Rate.objects.select_related("deck")
    serializer_class = serializers.RateSerializer
    filterset_class = filtersets.RateFilterSet
    ordering_fields = ["id", "prefix", "rate", "effective_from", "created_at", "updated_at"]
