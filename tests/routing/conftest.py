"""Routing data created the way an admin would (models + full_clean), and the live table."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from routing.loader import holder
from routing.models import (
    Carrier,
    Did,
    Domain,
    Gateway,
    IpSource,
    NormalizationRule,
    Pbx,
    RouterInstance,
    RouteRule,
    RouteTarget,
    Tenant,
)

TOKEN = "test-token-0123456789abcdef"


def saved(obj):  # type: ignore[no-untyped-def]
    obj.full_clean()
    obj.save()
    return obj


@dataclass
class RoutingData:
    tenant: Tenant
    pbx: Pbx
    alpha: Carrier
    beta: Carrier
    alpha1: Gateway
    beta1: Gateway
    france: RouteRule
    instance: RouterInstance


def make_routing_data() -> RoutingData:
    """Acme's PBX (10.10.0.0/24) calls out through Alpha then Beta; Alpha (198.51.100.0/28)
    brings calls in for domain.com and a DID range."""
    tenant = saved(Tenant(name="Acme"))
    pbx = saved(Pbx(tenant=tenant, name="hq", host="10.10.0.10"))
    saved(IpSource(cidr="10.10.0.0/24", pbx=pbx))
    saved(Domain(tenant=tenant, name="domain.com", pbx=pbx))
    national = NormalizationRule(pbx=pbx, direction="in", kind="prefix", match_prefix="0", strip=1,
                                 add_prefix="33", example_input="0612345678",
                                 example_output="33612345678")  # fmt: skip
    saved(national)
    alpha = saved(Carrier(name="Alpha", extra_headers="X-Trunk: alpha"))
    beta = saved(Carrier(name="Beta"))
    alpha1 = saved(Gateway(carrier=alpha, name="alpha-1", host="203.0.113.10"))
    beta1 = saved(Gateway(carrier=beta, name="beta-1", host="192.0.2.20", port=5080))
    saved(IpSource(cidr="198.51.100.0/28", carrier=alpha))
    saved(Did(tenant=tenant, pbx=pbx, number="33123456780", match="range", range_end="33123456789"))
    france = saved(RouteRule(name="France", prefix="33"))
    saved(RouteTarget(rule=france, gateway=alpha1, order=0))
    saved(RouteTarget(rule=france, gateway=beta1, order=1))
    instance = saved(
        RouterInstance(name="edge1", listen_ip="127.0.0.1", api_urls="http://127.0.0.1:8000/kamailio/rtjson",
                       token=TOKEN)
    )  # fmt: skip
    return RoutingData(tenant, pbx, alpha, beta, alpha1, beta1, france, instance)


@pytest.fixture
def routing_data(db) -> RoutingData:  # type: ignore[no-untyped-def]
    return make_routing_data()


@pytest.fixture
def live_table(routing_data):  # type: ignore[no-untyped-def]
    """The process-wide table built from the test's data; restored afterwards."""
    previous = holder.table
    holder.refresh(force=True)
    yield holder.table
    holder.table = previous


def reload_table() -> None:
    holder.refresh(force=True)
