"""Small valid objects to break one field at a time."""

from __future__ import annotations

import pytest

from routing.models import Carrier, Gateway, Pbx, RouteRule, Tenant


@pytest.fixture
def tenant(db: None) -> Tenant:
    return Tenant.objects.create(name="Acme Corp")


@pytest.fixture
def other_tenant(db: None) -> Tenant:
    return Tenant.objects.create(name="Globex")


@pytest.fixture
def pbx(tenant: Tenant) -> Pbx:
    return Pbx.objects.create(tenant=tenant, name="hq", host="10.10.0.10")


@pytest.fixture
def other_pbx(other_tenant: Tenant) -> Pbx:
    return Pbx.objects.create(tenant=other_tenant, name="globex-pbx", host="10.20.0.5")


@pytest.fixture
def carrier(db: None) -> Carrier:
    return Carrier.objects.create(name="Alpha Telecom")


@pytest.fixture
def gateway(carrier: Carrier) -> Gateway:
    return Gateway.objects.create(carrier=carrier, name="alpha-1", host="203.0.113.10")


@pytest.fixture
def rule(db: None) -> RouteRule:
    return RouteRule.objects.create(name="France", prefix="33")
