"""CRUD on every endpoint: list, create, retrieve, update, delete; then each list's filters."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from rest_framework.test import APIClient

from routing.api import urls as api_urls
from routing.models import (
    ROUTING_MODELS,
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
from tests.api import factories

pytestmark = pytest.mark.django_db


@dataclass(frozen=True)
class Endpoint:
    path: str
    model: type
    make: Callable[[], Any]
    payload: Callable[[], dict[str, Any]]
    change: tuple[str, Any]


def _did_payload(pbx: Pbx) -> dict[str, Any]:
    return {"tenant": pbx.tenant_id, "pbx": pbx.pk, "number": "33123456789"}


ENDPOINTS = [
    Endpoint(
        "tenants",
        Tenant,
        factories.tenant,
        lambda: {"name": "Acme", "description": "A customer"},
        ("enabled", False),
    ),
    Endpoint(
        "domains",
        Domain,
        factories.domain,
        lambda: {"tenant": factories.tenant().pk, "name": "voice.acme.example"},
        ("enabled", False),
    ),
    Endpoint(
        "pbxs",
        Pbx,
        factories.pbx,
        lambda: {"tenant": factories.tenant().pk, "name": "main", "host": "pbx.acme.example"},
        ("port", 5080),
    ),
    Endpoint(
        "carriers",
        Carrier,
        factories.carrier,
        lambda: {"name": "Alpha Telecom", "send_pai": True},
        ("from_domain", "sip.alpha.example"),
    ),
    Endpoint(
        "gateways",
        Gateway,
        factories.gateway,
        lambda: {"carrier": factories.carrier().pk, "name": "alpha-1", "host": "192.0.2.10"},
        ("weight", 50),
    ),
    Endpoint(
        "ip-sources",
        IpSource,
        factories.ip_source,
        lambda: {"cidr": "192.0.2.0/24", "carrier": factories.carrier().pk},
        ("description", "Alpha's SBCs"),
    ),
    Endpoint(
        "dids",
        Did,
        factories.did,
        lambda: _did_payload(factories.pbx()),
        ("description", "Main line"),
    ),
    Endpoint(
        "route-rules",
        RouteRule,
        lambda: factories.route_rule(targets=[factories.carrier()]),  # a rule routes somewhere
        lambda: {
            "prefix": "3361",
            "targets": [{"carrier": factories.carrier().pk}],
        },
        ("priority", 10),
    ),
    Endpoint(
        "normalization-rules",
        NormalizationRule,
        factories.normalization_rule,
        lambda: {
            "carrier": factories.carrier().pk,
            "direction": "in",
            "match_prefix": "0",
            "strip": 1,
            "add_prefix": "33",
        },
        ("priority", 5),
    ),
    Endpoint(
        "router-instances",
        RouterInstance,
        factories.router_instance,
        lambda: {
            "name": "kam-1",
            "listen_ip": "192.0.2.1",
            "api_urls": "http://127.0.0.1:8000/kamailio/rtjson",
        },
        ("children", 16),
    ),
    Endpoint(
        "number-lists",
        NumberList,
        factories.number_list,
        lambda: {"name": "Fraud", "mode": "block", "side": "called", "code": 403},
        ("reason", "Premium numbers barred"),
    ),
    Endpoint(
        "number-list-entries",
        NumberListEntry,
        factories.list_entry,
        lambda: {"number_list": factories.number_list().pk, "number": "3389", "match": "prefix"},
        ("comment", "fraud wave, ticket 42"),
    ),
    Endpoint(
        "rate-decks",
        RateDeck,
        factories.rate_deck,
        lambda: {"name": "Alpha buy", "carrier": factories.carrier().pk, "currency": "EUR"},
        ("description", "2026 price list"),
    ),
    Endpoint(
        "rates",
        Rate,
        factories.rate,
        lambda: {"deck": factories.rate_deck().pk, "prefix": "4420", "rate": "0.012500"},
        ("initial_increment", 60),
    ),
    Endpoint(
        "exchange-rates",
        ExchangeRate,
        factories.exchange_rate,
        lambda: {"currency": "GBP", "rate": "1.2700000000"},
        ("currency", "CHF"),
    ),
    Endpoint(
        "health-policies",
        HealthPolicy,
        factories.health_policy,
        lambda: {"name": "fast", "probe_interval": 2, "alive_codes": "200,404"},
        ("down_policy", "last"),
    ),
    Endpoint(
        "lnp-rules",
        LnpRule,
        factories.lnp_rule,
        lambda: {"prefix": "1", "enabled": True},
        ("prefix", "1202"),
    ),
    Endpoint(
        "ported-numbers",
        PortedNumber,
        factories.ported_number,
        lambda: {"number": "12025550123", "lrn": "13125550000"},
        ("lrn", "13125559999"),
    ),
]
IDS = [e.path for e in ENDPOINTS]


def test_every_routing_model_has_an_endpoint() -> None:
    """The forgotten-slot check: a new routing model needs a viewset and a test entry."""
    registered = {viewset.queryset.model for _, viewset, _ in api_urls.router.registry}
    expected = set(ROUTING_MODELS) - {RouteTarget}  # written through its rule
    # Call records are read-only (tests/api/test_cdrs.py), not routing data.
    assert registered == expected | {CallRecord}
    assert {e.model for e in ENDPOINTS} == expected


@pytest.mark.parametrize("viewset", [v for _, v, _ in api_urls.router.registry])
def test_every_viewset_fills_its_slots(viewset: Any) -> None:
    assert viewset.filterset_class is not None
    assert viewset.ordering_fields
    fields = viewset.serializer_class.Meta.fields
    assert isinstance(fields, list) and "id" in fields


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
def test_list(api_client: APIClient, endpoint: Endpoint) -> None:
    obj = endpoint.make()
    response = api_client.get(f"/api/v1/{endpoint.path}/")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    assert body["results"][0]["id"] == obj.pk
    assert body["results"][0]["display"] == str(obj)


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
def test_create(api_client: APIClient, endpoint: Endpoint) -> None:
    payload = endpoint.payload()
    response = api_client.post(f"/api/v1/{endpoint.path}/", payload, format="json")
    assert response.status_code == 201, response.json()
    created = endpoint.model.objects.get(pk=response.json()["id"])
    for name, value in payload.items():
        if name != "targets":
            assert response.json()[name] == value
    if endpoint.model is not PortedNumber:  # no per-row history (routing.models.lnp)
        assert created.history.count() == 1


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
def test_retrieve(api_client: APIClient, endpoint: Endpoint) -> None:
    obj = endpoint.make()
    response = api_client.get(f"/api/v1/{endpoint.path}/{obj.pk}/")
    assert response.status_code == 200
    assert response.json()["id"] == obj.pk
    assert response.json()["url"].endswith(f"/api/v1/{endpoint.path}/{obj.pk}/")
    assert api_client.get(f"/api/v1/{endpoint.path}/999999/").status_code == 404


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
def test_partial_update(api_client: APIClient, endpoint: Endpoint) -> None:
    obj = endpoint.make()
    name, value = endpoint.change
    response = api_client.patch(f"/api/v1/{endpoint.path}/{obj.pk}/", {name: value}, format="json")
    assert response.status_code == 200, response.json()
    obj.refresh_from_db()
    assert getattr(obj, name) == value


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
def test_full_update(api_client: APIClient, endpoint: Endpoint) -> None:
    obj = endpoint.make()
    current = api_client.get(f"/api/v1/{endpoint.path}/{obj.pk}/").json()
    name, value = endpoint.change
    body = {k: v for k, v in current.items() if v is not None}
    body[name] = value
    response = api_client.put(f"/api/v1/{endpoint.path}/{obj.pk}/", body, format="json")
    assert response.status_code == 200, response.json()
    obj.refresh_from_db()
    assert getattr(obj, name) == value


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
def test_delete(api_client: APIClient, endpoint: Endpoint) -> None:
    obj = endpoint.make()
    response = api_client.delete(f"/api/v1/{endpoint.path}/{obj.pk}/")
    assert response.status_code == 204
    assert not endpoint.model.objects.filter(pk=obj.pk).exists()


def test_delete_of_a_protected_object_is_a_conflict(api_client: APIClient) -> None:
    pbx = factories.pbx()
    response = api_client.delete(f"/api/v1/tenants/{pbx.tenant_id}/")
    assert response.status_code == 409
    assert "is used by" in response.json()["detail"]
    assert Tenant.objects.filter(pk=pbx.tenant_id).exists()


def test_ip_source_is_stored_in_canonical_form(api_client: APIClient) -> None:
    """The model's clean() normalises; the API keeps what it made, as the admin does."""
    carrier = factories.carrier()
    response = api_client.post(
        "/api/v1/ip-sources/", {"cidr": " 192.0.2.7 ", "carrier": carrier.pk}, format="json"
    )
    assert response.status_code == 201, response.json()
    assert response.json()["cidr"] == "192.0.2.7/32"


def test_pagination_limit_offset(api_client: APIClient) -> None:
    for _ in range(5):
        factories.tenant()
    body = api_client.get("/api/v1/tenants/?limit=2&offset=2").json()
    assert body["count"] == 5
    assert len(body["results"]) == 2
    assert body["next"] and body["previous"]


def test_ordering(api_client: APIClient) -> None:
    factories.tenant(name="b")
    factories.tenant(name="a")
    factories.tenant(name="c")
    names = [t["name"] for t in api_client.get("/api/v1/tenants/?ordering=-name").json()["results"]]
    assert names == ["c", "b", "a"]


def test_api_root_lists_the_endpoints(api_client: APIClient) -> None:
    body = api_client.get("/api/v1/").json()
    assert set(body) == {*IDS, "cdrs"}


# --- Filters ------------------------------------------------------------------------------------


def _ids(client: APIClient, url: str) -> set[int]:
    response = client.get(url)
    assert response.status_code == 200, response.json()
    return {item["id"] for item in response.json()["results"]}


def test_filter_by_tenant_enabled_and_search(api_client: APIClient) -> None:
    acme, other = factories.tenant(name="Acme"), factories.tenant(name="Other")
    pbx_a = factories.pbx(tenant=acme, name="front")
    pbx_b = factories.pbx(tenant=other, name="back", enabled=False)
    assert _ids(api_client, f"/api/v1/pbxs/?tenant={acme.pk}") == {pbx_a.pk}
    assert _ids(api_client, f"/api/v1/pbxs/?tenant={acme.pk}&tenant={other.pk}") == {
        pbx_a.pk,
        pbx_b.pk,
    }
    assert _ids(api_client, "/api/v1/pbxs/?enabled=false") == {pbx_b.pk}
    assert _ids(api_client, "/api/v1/pbxs/?q=FRO") == {pbx_a.pk}
    assert _ids(api_client, "/api/v1/tenants/?q=acm") == {acme.pk}
    assert api_client.get("/api/v1/pbxs/?tenant=999999").status_code == 400


def test_filter_gateways_by_carrier(api_client: APIClient) -> None:
    gw = factories.gateway(prefix="1234#")
    factories.gateway()
    assert _ids(api_client, f"/api/v1/gateways/?carrier={gw.carrier_id}") == {gw.pk}
    assert _ids(api_client, "/api/v1/gateways/?prefix=12") == {gw.pk}


def test_filter_ip_sources(api_client: APIClient) -> None:
    by_carrier = factories.ip_source(cidr="192.0.2.0/24")
    by_pbx = factories.ip_source(cidr="198.51.100.0/24", pbx=factories.pbx())
    assert _ids(api_client, f"/api/v1/ip-sources/?carrier={by_carrier.carrier_id}") == {
        by_carrier.pk
    }
    assert _ids(api_client, f"/api/v1/ip-sources/?tenant={by_pbx.pbx.tenant_id}") == {by_pbx.pk}
    assert _ids(api_client, "/api/v1/ip-sources/?q=198.51") == {by_pbx.pk}


def test_filter_dids_by_prefix_and_tenant(api_client: APIClient) -> None:
    paris = factories.did(number="33123456789")
    lyon = factories.did(number="33412345678")
    assert _ids(api_client, "/api/v1/dids/?prefix=331") == {paris.pk}
    assert _ids(api_client, f"/api/v1/dids/?tenant={lyon.tenant_id}") == {lyon.pk}
    assert _ids(api_client, "/api/v1/dids/?match=exact") == {paris.pk, lyon.pk}


def test_filter_route_rules(api_client: APIClient) -> None:
    acme = factories.tenant()
    alpha = factories.carrier()
    beta_gw = factories.gateway()
    france = factories.route_rule(prefix="33", targets=[alpha])
    mobile = factories.route_rule(prefix="336", targets=[beta_gw], tenant=acme)
    other = factories.route_rule(prefix="44", enabled=False)
    assert _ids(api_client, "/api/v1/route-rules/?prefix=33") == {france.pk, mobile.pk}
    assert _ids(api_client, f"/api/v1/route-rules/?tenant={acme.pk}") == {mobile.pk}
    assert _ids(api_client, "/api/v1/route-rules/?is_global=true") == {france.pk, other.pk}
    assert _ids(api_client, f"/api/v1/route-rules/?carrier={alpha.pk}") == {france.pk}
    # A carrier also matches through its gateways.
    assert _ids(api_client, f"/api/v1/route-rules/?carrier={beta_gw.carrier_id}") == {mobile.pk}
    assert _ids(api_client, f"/api/v1/route-rules/?gateway={beta_gw.pk}") == {mobile.pk}
    assert _ids(api_client, "/api/v1/route-rules/?enabled=false") == {other.pk}
    results = api_client.get("/api/v1/route-rules/?matches=33612345678").json()["results"]
    assert [r["id"] for r in results] == [mobile.pk, france.pk]
    assert _ids(api_client, "/api/v1/route-rules/?matches=not-digits") == set()
    assert _ids(api_client, "/api/v1/route-rules/?q=44") == {other.pk}


def test_filter_normalization_rules(api_client: APIClient) -> None:
    rule = factories.normalization_rule(match_prefix="00", strip=2)
    factories.normalization_rule(pbx=factories.pbx(), direction="out")
    assert _ids(api_client, f"/api/v1/normalization-rules/?carrier={rule.carrier_id}") == {rule.pk}
    assert _ids(api_client, "/api/v1/normalization-rules/?prefix=0") == {rule.pk}
    assert _ids(api_client, "/api/v1/normalization-rules/?direction=in") == {rule.pk}


def test_filter_domains_carriers_and_instances(api_client: APIClient) -> None:
    domain = factories.domain(name="voice.acme.example")
    factories.domain()
    carrier = factories.carrier(name="Zeta", enabled=False)
    instance = factories.router_instance(name="edge-paris")
    factories.router_instance()
    assert _ids(api_client, "/api/v1/domains/?q=acme") == {domain.pk}
    assert _ids(api_client, f"/api/v1/domains/?tenant={domain.tenant_id}") == {domain.pk}
    assert _ids(api_client, "/api/v1/carriers/?enabled=false") == {carrier.pk}
    assert _ids(api_client, "/api/v1/router-instances/?q=paris") == {instance.pk}


# --- Number lists -------------------------------------------------------------------------------


def test_number_lists_show_entry_counts_and_filter(api_client: APIClient) -> None:
    tenant = factories.tenant()
    fraud = factories.number_list(name="Fraud")
    own = factories.number_list(name="Acme's", tenant=tenant, side="caller")
    factories.list_entry(number_list=fraud, number="3389", match="prefix", comment="premium")
    factories.list_entry(number_list=fraud, number="882", match="prefix")
    body = api_client.get(f"/api/v1/number-lists/{fraud.pk}/").json()
    assert body["entry_count"] == 2 and body["refusal_reason"] == "Destination blocked"
    assert api_client.get(f"/api/v1/number-lists/{own.pk}/").json()["refusal_reason"] == (
        "Source blocked"
    )
    assert _ids(api_client, "/api/v1/number-lists/?is_global=true") == {fraud.pk}
    assert _ids(api_client, f"/api/v1/number-lists/?tenant={tenant.pk}") == {own.pk}
    entries = "/api/v1/number-list-entries/"
    assert len(_ids(api_client, f"{entries}?number_list={fraud.pk}&prefix=33")) == 1
    assert len(_ids(api_client, f"{entries}?q=premium")) == 1


def test_number_list_refusals_are_validated(api_client: APIClient) -> None:
    response = api_client.post(
        "/api/v1/number-lists/",
        {"name": "Bad", "code": 200, "reason": "Blocked\r\nX-Evil: 1"},
        format="json",
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == ["Ensure this value is greater than or equal to 400."]
    assert "printable characters" in body["reason"][0]
    fraud = factories.number_list()
    response = api_client.post(
        "/api/v1/number-list-entries/",
        {"number_list": fraud.pk, "number": "3314", "match": "range", "range_end": "3313"},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["range_end"] == ["The last number is below the first."]


def test_deleting_a_number_list_deletes_its_entries(api_client: APIClient) -> None:
    fraud = factories.number_list()
    factories.list_entry(number_list=fraud)
    assert api_client.delete(f"/api/v1/number-lists/{fraud.pk}/").status_code == 204
    assert not NumberListEntry.objects.exists()
