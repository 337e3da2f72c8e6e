"""GET .../{id}/history/: who changed what, when, for every object the API writes."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.api import factories
from tests.api.test_crud import ENDPOINTS, IDS, Endpoint

pytestmark = pytest.mark.django_db


def test_rule_history_names_user_fields_and_targets(api_client: APIClient, admin_user) -> None:  # type: ignore[no-untyped-def]
    alpha, beta = factories.carrier(name="Alpha"), factories.carrier(name="Beta")
    created = api_client.post(
        "/api/v1/route-rules/",
        {"prefix": "33", "name": "France", "targets": [{"carrier": alpha.pk}]},
        format="json",
    ).json()
    url = f"/api/v1/route-rules/{created['id']}/"
    api_client.patch(url, {"prefix": "336", "targets": [{"carrier": beta.pk}]}, format="json")

    response = api_client.get(f"{url}history/")
    assert response.status_code == 200
    records = response.json()
    assert all(r["user"] == "admin" for r in records)
    assert records == sorted(records, key=lambda r: r["date"], reverse=True)

    rule_records = [r for r in records if r["object_type"] == "route rule"]
    assert [r["type"] for r in rule_records] == ["changed", "created"]
    assert rule_records[0]["changes"] == [{"field": "prefix", "old": "33", "new": "336"}]
    created_fields = {c["field"]: c["new"] for c in rule_records[1]["changes"]}
    assert created_fields["prefix"] == "33"
    assert created_fields["name"] == "France"
    assert all(c["old"] is None for c in rule_records[1]["changes"])

    target_records = [r for r in records if r["object_type"] == "route target"]
    kinds = sorted((r["type"], r["object_repr"]) for r in target_records)
    assert kinds == [("created", "0: Alpha"), ("created", "0: Beta"), ("deleted", "0: Alpha")]


def test_history_of_a_deleted_object_outlives_it(api_client: APIClient) -> None:
    tenant = factories.tenant(name="Gone")
    api_client.delete(f"/api/v1/tenants/{tenant.pk}/")
    records = api_client.get(f"/api/v1/tenants/{tenant.pk}/history/").json()
    assert [r["type"] for r in records] == ["deleted", "created"]
    assert records[0]["user"] == "admin"
    assert records[1]["user"] is None  # created by a script, not through a request


def test_history_of_an_unknown_object_is_404(api_client: APIClient) -> None:
    assert api_client.get("/api/v1/tenants/999999/history/").status_code == 404


@pytest.mark.parametrize(
    "endpoint",
    [e for e in ENDPOINTS if e.path != "ported-numbers"],
    ids=[i for i in IDS if i != "ported-numbers"],
)
def test_every_endpoint_records_an_update(api_client: APIClient, endpoint: Endpoint) -> None:
    obj = endpoint.make()
    name, value = endpoint.change
    api_client.patch(f"/api/v1/{endpoint.path}/{obj.pk}/", {name: value}, format="json")
    records = api_client.get(f"/api/v1/{endpoint.path}/{obj.pk}/history/").json()
    assert records[0]["type"] == "changed"
    assert records[0]["user"] == "admin"
    assert {"field": name, "old": records[0]["changes"][0]["old"], "new": value} in records[0][
        "changes"
    ]


def test_ported_numbers_have_no_per_row_history_route(api_client: APIClient) -> None:
    # Tens of millions of rows: no history table, so no history route (routing.models.lnp).
    obj = factories.ported_number()
    assert api_client.get(f"/api/v1/ported-numbers/{obj.pk}/").status_code == 200
    assert api_client.get(f"/api/v1/ported-numbers/{obj.pk}/history/").status_code == 404


def test_router_instance_history_never_holds_the_token(api_client: APIClient) -> None:
    instance = factories.router_instance(token="a-very-secret-token-value")
    api_client.patch(
        f"/api/v1/router-instances/{instance.pk}/",
        {"token": "another-very-secret-token"},
        format="json",
    )
    text = api_client.get(f"/api/v1/router-instances/{instance.pk}/history/").content.decode()
    assert "secret" not in text
