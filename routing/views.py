"""The routing endpoint as a DRF view: its definition (schema, browsable docs).

In production c4router.asgi answers POST /kamailio/rtjson before Django's request cycle
with the same handle_rtjson(); this view serves it when the lean path is off and documents
it in the OpenAPI schema. Both are tested to give identical answers.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.views import APIView

from routing import health
from routing.endpoint import TOKEN_HEADER, client_allowed, handle_rtjson
from routing.loader import holder

_QUERY = inline_serializer(
    "RoutingQuery",
    {
        "event": serializers.CharField(required=False, help_text='"sip-routing"'),
        "source_ip": serializers.CharField(help_text="IP address the INVITE came from ($si)."),
        "source_port": serializers.IntegerField(required=False),
        "auth": serializers.IntegerField(required=False),
        "call_id": serializers.CharField(required=False),
        "from_name": serializers.CharField(required=False),
        "from_uri": serializers.CharField(required=False),
        "from_tag": serializers.CharField(required=False),
        "to_name": serializers.CharField(required=False),
        "to_uri": serializers.CharField(
            help_text="The To URI; its user part is the called number."
        ),
        "to_tag": serializers.CharField(required=False),
    },
)
_ERROR = inline_serializer("RoutingError", {"error": serializers.CharField()})


class RtjsonView(APIView):
    """Kamailio's routing query: which routes to try for this call, in rtjson."""

    # Kamailio is authenticated by its network and the X-C4-Token header in handle_rtjson,
    # not by users and sessions; the body is read raw (no DRF parsing on the hot path).
    authentication_classes: list[type] = []
    permission_classes = [AllowAny]
    parser_classes: list[type] = []

    @extend_schema(
        operation_id="kamailio_rtjson",
        summary="Route a call (Kamailio's http_async_client query)",
        request=_QUERY,
        parameters=[
            OpenApiParameter(
                TOKEN_HEADER,
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                required=True,
                description="The router instance's shared secret.",
            )
        ],
        responses={
            200: OpenApiTypes.OBJECT,
            400: _ERROR,
            403: _ERROR,
            415: _ERROR,
            503: _ERROR,
        },
        examples=[
            OpenApiExample(
                "The seed's query",
                request_only=True,
                value={
                    "event": "sip-routing",
                    "source_ip": "198.51.100.10",
                    "source_port": 5060,
                    "auth": 0,
                    "call_id": "a84b4c76e66710@pc33.domain.com",
                    "from_name": "Caller",
                    "from_uri": "sip:caller@domain.com",
                    "from_tag": "1928301774",
                    "to_name": "Callee",
                    "to_uri": "sip:callee@domain.com",
                    "to_tag": "<null>",
                },
            )
        ],
        tags=["routing"],
    )
    def post(self, request: Request) -> HttpResponse:
        if holder.get() is None:
            holder.ensure_loaded()  # first request of this process: build the table now
        status, body = handle_rtjson(
            request.body,
            content_type=request.headers.get("Content-Type", ""),
            token=request.headers.get(TOKEN_HEADER, ""),
            client_ip=request.META.get("REMOTE_ADDR"),
        )
        return HttpResponse(body, status=status, content_type="application/json")


def _plain(answer: tuple[int, bytes, str]) -> HttpResponse:
    status, body, content_type = answer
    response = HttpResponse(body, status=status, content_type=content_type)
    response["Cache-Control"] = "no-store"
    return response


# The same probes through Django, for servers without the lean ASGI handler (WSGI, tests).
def healthz(request: HttpRequest) -> HttpResponse:
    return _plain(health.healthz())


def readyz(request: HttpRequest) -> HttpResponse:
    return _plain(
        health.readyz(client_allowed(request.META.get("REMOTE_ADDR"), "METRICS_ALLOWED_NETS"))
    )


def metrics_view(request: HttpRequest) -> HttpResponse:
    ip = request.META.get("REMOTE_ADDR")
    return _plain(health.metrics_page(ip, client_allowed(ip, "METRICS_ALLOWED_NETS")))


class HealthReportView(APIView):
    """A router instance reports a gateway's probe state (routing.carrier_health)."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]
    parser_classes: list[type] = []

    @extend_schema(
        operation_id="kamailio_health",
        summary="Report a gateway up or down (Kamailio's probes)",
        request=inline_serializer(
            "HealthReport",
            {
                "gateway": serializers.IntegerField(help_text="The gateway's id."),
                "state": serializers.ChoiceField(choices=["up", "down"]),
                "reason": serializers.CharField(required=False, max_length=200),
            },
        ),
        parameters=[
            OpenApiParameter(
                TOKEN_HEADER,
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                required=True,
                description="The router instance's shared secret.",
            )
        ],
        responses={200: OpenApiTypes.OBJECT, 400: _ERROR, 403: _ERROR, 415: _ERROR},
        tags=["routing"],
    )
    def post(self, request: Request) -> HttpResponse:
        from routing.carrier_health import handle_health_report

        status, body = handle_health_report(
            request.body,
            content_type=request.headers.get("Content-Type", ""),
            token=request.headers.get(TOKEN_HEADER, ""),
            client_ip=request.META.get("REMOTE_ADDR"),
        )
        return HttpResponse(body, status=status, content_type="application/json")
