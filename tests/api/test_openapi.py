"""The OpenAPI schema: generated without a warning, served to users, shown in Swagger UI."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client
from rest_framework.test import APIClient

from tests.api.test_crud import IDS

pytestmark = pytest.mark.django_db


def test_schema_generates_without_warnings() -> None:
    out = StringIO()
    # --fail-on-warn turns any warning (an unresolvable field, an enum clash) into an error.
    call_command(
        "spectacular", "--fail-on-warn", "--validate", "--format", "openapi-json", stdout=out
    )
    schema = json.loads(out.getvalue())
    assert schema["openapi"].startswith("3.")
    for name in IDS:
        assert f"/api/v1/{name}/" in schema["paths"]
        assert f"/api/v1/{name}/{{id}}/" in schema["paths"]
        # Ported numbers have no per-row history (routing.models.lnp): no history route.
        history = f"/api/v1/{name}/{{id}}/history/"
        assert (history in schema["paths"]) is (name != "ported-numbers")
    for name in ("route-rules", "dids"):
        assert f"/api/v1/{name}/import/" in schema["paths"]
        assert f"/api/v1/{name}/export/" in schema["paths"]
    assert "/api/v1/auth/token/" in schema["paths"]


def test_schema_documents_filters_and_security() -> None:
    out = StringIO()
    call_command("spectacular", "--format", "openapi-json", stdout=out)
    schema = json.loads(out.getvalue())
    params = {p["name"] for p in schema["paths"]["/api/v1/route-rules/"]["get"]["parameters"]}
    assert {"q", "tenant", "carrier", "enabled", "prefix", "ordering", "limit", "offset"} <= params
    assert "tokenAuth" in schema["components"]["securitySchemes"]
    responses = schema["paths"]["/api/v1/tenants/{id}/"]["delete"]["responses"]
    assert {"204", "401", "403", "404", "409"} <= set(responses)


def test_schema_endpoint_serves_users(api_client: APIClient) -> None:
    response = api_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    assert "/api/v1/route-rules/" in response.json()["paths"]


def test_swagger_ui_for_a_logged_in_user(admin_client: Client) -> None:
    response = admin_client.get("/api/docs/")
    assert response.status_code == 200
    assert b"swagger-ui" in response.content


def test_swagger_ui_is_served_without_a_cdn(admin_client):
    page = admin_client.get("/api/docs/").content.decode()
    assert "cdn.jsdelivr.net" not in page and "unpkg.com" not in page
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page
    script = admin_client.get(
        "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js"
    )
    assert script.status_code == 200
