"""The capacity limits' CSV endpoints: POST /api/v1/capacity-limits/import/ and GET
/api/v1/capacity-limits/export/ (routing.imports_limits)."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from routing.models import Carrier, Tenant
from tests.api import factories

pytestmark = pytest.mark.django_db

IMPORT = "/api/v1/capacity-limits/import/"
EXPORT = "/api/v1/capacity-limits/export/"
HEADER = "kind,name,max_calls,max_cps\n"


@pytest.fixture
def world() -> dict[str, Any]:
    acme = factories.tenant(name="Acme")
    alpha = factories.carrier(name="Alpha Telecom")
    return {
        "acme": acme,
        "alpha": alpha,
        "pbx": factories.pbx(tenant=acme, name="main"),
        "gw": factories.gateway(carrier=alpha, name="alpha-1"),
    }


def upload(text: str, name: str = "limits.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode())


def client_with(django_user_model: Any, *codenames: str) -> APIClient:
    user = django_user_model.objects.create_user("ops")
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_import_then_export(api_client: APIClient, world: dict[str, Any], admin_user: Any) -> None:
    text = (
        HEADER + "tenant,Acme,100,10\ngateway,Alpha Telecom/alpha-1,,5\ncarrier,Alpha Telecom,,\n"
    )
    response = api_client.post(IMPORT, {"file": upload(text)})
    assert response.status_code == 200, response.content
    assert response.json() == {"updated": 2, "unchanged": 1, "dry_run": False}
    world["acme"].refresh_from_db()
    assert (world["acme"].max_calls, world["acme"].max_cps) == (100, 10)
    record = world["acme"].history.latest()
    assert (record.history_user, record.history_change_reason) == (
        admin_user,
        "API import of limits.csv",
    )
    response = api_client.get(EXPORT)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    body = b"".join(response.streaming_content).decode()
    assert body == HEADER + (
        "tenant,Acme,100,10\npbx,Acme/main,,\ncarrier,Alpha Telecom,,\n"
        "gateway,Alpha Telecom/alpha-1,,5\n"
    )
    limited = b"".join(api_client.get(EXPORT + "?limited_only=true").streaming_content).decode()
    assert limited == HEADER + "tenant,Acme,100,10\ngateway,Alpha Telecom/alpha-1,,5\n"


def test_errors_name_the_line_and_nothing_is_written(
    api_client: APIClient, world: dict[str, Any]
) -> None:
    text = HEADER + "tenant,Acme,100,\ncarrier,Alpha Telecon,5,\n"
    response = api_client.post(IMPORT, {"file": upload(text)})
    assert response.status_code == 400
    assert response.json() == {
        "detail": "1 error in the file; nothing was imported.",
        "errors": [
            {
                "line": 3,
                "field": "name",
                "message": "There is no carrier named 'Alpha Telecon': did you mean "
                "'Alpha Telecom'?",
            }
        ],
    }
    assert Tenant.objects.get().max_calls is None


def test_dry_run(api_client: APIClient, world: dict[str, Any]) -> None:
    response = api_client.post(
        IMPORT, {"file": upload(HEADER + "tenant,Acme,1,\n"), "dry_run": "true"}
    )
    assert response.json() == {"updated": 1, "unchanged": 0, "dry_run": True}
    assert Tenant.objects.get().max_calls is None


def test_upload_size_limit(api_client: APIClient, world: dict[str, Any], settings: Any) -> None:
    settings.C4ROUTER = {**settings.C4ROUTER, "IMPORT_MAX_BYTES": 100}
    text = HEADER + "tenant,Acme,1,\n" * 20
    response = api_client.post(IMPORT, {"file": upload(text)})
    assert response.status_code == 413
    assert "C4ROUTER_IMPORT_MAX_BYTES" in response.json()["errors"][0]["message"]


def test_each_kind_needs_its_change_permission(
    django_user_model: Any, world: dict[str, Any]
) -> None:
    client = client_with(django_user_model, "change_tenant", "view_tenant")
    text = HEADER + "tenant,Acme,5,\ncarrier,Alpha Telecom,5,\n"
    response = client.post(IMPORT, {"file": upload(text)})
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {
            "line": 3,
            "field": "kind",
            "message": "You may not change the limits of carriers: that needs the permission "
            "to change carriers.",
        }
    ]
    assert Carrier.objects.get().max_calls is None and Tenant.objects.get().max_calls is None
    assert client.post(IMPORT, {"file": upload(HEADER + "tenant,Acme,5,\n")}).status_code == 200
    # The export has the kinds this user may view.
    body = b"".join(client.get(EXPORT).streaming_content).decode()
    assert body == HEADER + "tenant,Acme,5,\n"


def test_readers_cannot_import_and_strangers_get_nothing(
    readonly_client: APIClient, anon_client: APIClient, django_user_model: Any, world: Any
) -> None:
    assert readonly_client.post(IMPORT, {"file": upload(HEADER)}).status_code == 403
    assert readonly_client.get(EXPORT).status_code == 200
    assert anon_client.get(EXPORT).status_code in (401, 403)
    assert anon_client.post(IMPORT, {"file": upload(HEADER)}).status_code in (401, 403)
    nobody = client_with(django_user_model)
    assert nobody.get(EXPORT).status_code == 403
    assert nobody.post(IMPORT, {"file": upload(HEADER)}).status_code == 403


def test_the_schema_lists_the_endpoints(api_client: APIClient) -> None:
    schema = api_client.get("/api/schema/?format=json").json()
    assert IMPORT in schema["paths"] and EXPORT in schema["paths"]
