"""Who may do what: nobody anonymous, view permission to read, add/change/delete to write."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from routing.models import RouteRule, Tenant
from tests.api import factories
from tests.api.test_crud import ENDPOINTS, IDS, Endpoint

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
def test_anonymous_gets_nothing(anon_client: APIClient, endpoint: Endpoint) -> None:
    obj = endpoint.make()
    base = f"/api/v1/{endpoint.path}/"
    detail = f"{base}{obj.pk}/"
    urls = [
        ("get", base),
        ("post", base),
        ("get", detail),
        ("put", detail),
        ("patch", detail),
        ("delete", detail),
    ]
    if endpoint.path != "ported-numbers":  # no per-row history (routing.models.lnp)
        urls.append(("get", f"{detail}history/"))
    for method, url in urls:
        response = getattr(anon_client, method)(url, {}, format="json")
        assert response.status_code == 401, (method, url)
        assert response["WWW-Authenticate"] == "Token"
    assert endpoint.model.objects.filter(pk=obj.pk).exists()


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/",
        "/api/schema/",
        "/api/v1/route-rules/export/",
        "/api/v1/dids/export/",
    ],
)
def test_anonymous_gets_no_root_schema_or_export(anon_client: APIClient, url: str) -> None:
    assert anon_client.get(url).status_code == 401


def test_anonymous_cannot_import(anon_client: APIClient) -> None:
    upload = SimpleUploadedFile("r.csv", b"prefix\n33\n")
    response = anon_client.post("/api/v1/route-rules/import/", {"file": upload})
    assert response.status_code == 401
    assert not RouteRule.objects.exists()


def test_swagger_ui_sends_anonymous_users_to_the_login_page(anon_client: APIClient) -> None:
    response = anon_client.get("/api/docs/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
def test_readonly_user_can_read(readonly_client: APIClient, endpoint: Endpoint) -> None:
    obj = endpoint.make()
    base = f"/api/v1/{endpoint.path}/"
    assert readonly_client.get(base).status_code == 200
    assert readonly_client.get(f"{base}{obj.pk}/").status_code == 200
    if endpoint.path != "ported-numbers":  # no per-row history (routing.models.lnp)
        assert readonly_client.get(f"{base}{obj.pk}/history/").status_code == 200


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
def test_readonly_user_cannot_write(readonly_client: APIClient, endpoint: Endpoint) -> None:
    obj = endpoint.make()
    base = f"/api/v1/{endpoint.path}/"
    detail = f"{base}{obj.pk}/"
    count = endpoint.model.objects.count()
    assert readonly_client.post(base, endpoint.payload(), format="json").status_code == 403
    name, value = endpoint.change
    assert readonly_client.patch(detail, {name: value}, format="json").status_code == 403
    assert readonly_client.put(detail, {name: value}, format="json").status_code == 403
    assert readonly_client.delete(detail).status_code == 403
    assert endpoint.model.objects.count() == count
    obj.refresh_from_db()
    assert getattr(obj, name) != value


def test_readonly_user_cannot_import_but_can_export(readonly_client: APIClient) -> None:
    upload = SimpleUploadedFile("r.csv", b"prefix\n33\n")
    response = readonly_client.post("/api/v1/route-rules/import/", {"file": upload})
    assert response.status_code == 403
    assert readonly_client.get("/api/v1/route-rules/export/").status_code == 200
    assert readonly_client.get("/api/v1/dids/export/").status_code == 200


def test_authenticated_user_without_view_permission_reads_nothing(django_user_model) -> None:  # type: ignore[no-untyped-def]
    client = APIClient()
    client.force_authenticate(django_user_model.objects.create_user("nobody"))
    assert client.get("/api/v1/tenants/").status_code == 403
    assert client.get("/api/v1/").status_code == 200  # the root lists URLs, no data


def test_replace_import_needs_the_delete_permission(django_user_model) -> None:  # type: ignore[no-untyped-def]
    user = django_user_model.objects.create_user("importer")
    user.user_permissions.set(
        Permission.objects.filter(codename__in=["add_routerule", "view_routerule"])
    )
    client = APIClient()
    client.force_authenticate(user)
    csv = b"prefix,action,reject_code,reject_reason\n33,reject,480,Closed\n"
    denied = client.post(
        "/api/v1/route-rules/import/",
        {"file": SimpleUploadedFile("r.csv", csv), "mode": "replace"},
    )
    assert denied.status_code == 403
    allowed = client.post("/api/v1/route-rules/import/", {"file": SimpleUploadedFile("r.csv", csv)})
    assert allowed.status_code == 200, allowed.json()
    assert RouteRule.objects.count() == 1


def test_token_authentication(anon_client: APIClient, admin_user) -> None:  # type: ignore[no-untyped-def]
    response = anon_client.post(
        "/api/v1/auth/token/", {"username": "admin", "password": "secret-pass"}, format="json"
    )
    assert response.status_code == 200
    key = response.json()["token"]
    assert Token.objects.get(user=admin_user).key == key

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    created = client.post("/api/v1/tenants/", {"name": "Acme"}, format="json")
    assert created.status_code == 201
    # The history names the token's user: DRF authenticates after the history middleware.
    tenant = Tenant.objects.get(name="Acme")
    assert tenant.history.get().history_user == admin_user

    client.credentials(HTTP_AUTHORIZATION="Token wrong")
    assert client.get("/api/v1/tenants/").status_code == 401


def test_token_endpoint_refuses_bad_credentials(anon_client: APIClient, admin_user) -> None:  # type: ignore[no-untyped-def]
    response = anon_client.post(
        "/api/v1/auth/token/", {"username": "admin", "password": "nope"}, format="json"
    )
    assert response.status_code == 400
    assert not Token.objects.exists()


def test_router_instance_token_only_for_users_who_may_change_instances(
    api_client: APIClient, readonly_client: APIClient
) -> None:
    instance = factories.router_instance(token="s3cret-token-abcdefgh")
    url = f"/api/v1/router-instances/{instance.pk}/"
    assert api_client.get(url).json()["token"] == "s3cret-token-abcdefgh"
    assert "token" not in readonly_client.get(url).json()
    listed = readonly_client.get("/api/v1/router-instances/").json()["results"][0]
    assert "token" not in listed
