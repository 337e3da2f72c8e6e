"""Capacity limits through the API: set, read back, cleared (null: no limit)."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from routing.models import Carrier, Tenant
from tests.api import factories

pytestmark = pytest.mark.django_db


def test_a_tenants_limits_are_set_read_and_cleared(api_client: APIClient) -> None:
    created = api_client.post(
        "/api/v1/tenants/", {"name": "Limited", "max_calls": 20, "max_cps": 0}, format="json"
    )
    assert created.status_code == 201, created.content
    assert (created.json()["max_calls"], created.json()["max_cps"]) == (20, 0)
    url = f"/api/v1/tenants/{created.json()['id']}/"
    cleared = api_client.patch(url, {"max_calls": None}, format="json")
    assert cleared.status_code == 200, cleared.content
    tenant = Tenant.objects.get(name="Limited")
    assert (tenant.max_calls, tenant.max_cps) == (None, 0)


def test_a_carriers_and_a_gateways_limits(api_client: APIClient) -> None:
    gateway = factories.gateway()
    carrier_url = f"/api/v1/carriers/{gateway.carrier_id}/"
    assert api_client.patch(carrier_url, {"max_cps": 30}, format="json").status_code == 200
    gateway_url = f"/api/v1/gateways/{gateway.pk}/"
    assert api_client.patch(gateway_url, {"max_calls": 5}, format="json").status_code == 200
    assert api_client.get(gateway_url).json()["max_calls"] == 5
    assert Carrier.objects.get(pk=gateway.carrier_id).max_cps == 30
