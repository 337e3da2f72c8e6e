"""Bad input: 400, the field named, the admin's own message, and nothing written.

Each case is also put through the admin's form for the same model: the API must answer with
exactly the messages the admin shows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib import admin
from django.test import RequestFactory
from rest_framework.test import APIClient

from routing import validators
from routing.models import (
    Carrier,
    Did,
    Domain,
    ExchangeRate,
    Gateway,
    IpSource,
    NormalizationRule,
    Pbx,
    RouterInstance,
    RouteRule,
    Tenant,
)
from tests.api import factories

pytestmark = pytest.mark.django_db


def _message(validator: Callable[[str], Any], value: str) -> str:
    try:
        validator(value)
    except Exception as exc:
        return exc.messages[0]  # type: ignore[attr-defined]
    raise AssertionError(f"{value!r} is valid")


@dataclass(frozen=True)
class Case:
    id: str
    path: str
    model: type
    payload: Callable[[], dict[str, Any]]
    bad: dict[str, Any]
    field: str  # the field the error is on; non_field_errors for clean()'s own
    message: str | None = None  # when known independently of the admin


def _carrier() -> dict[str, Any]:
    return {"carrier": factories.carrier().pk}


CASES = [
    Case(
        "cidr-host-bits",
        "ip-sources",
        IpSource,
        _carrier,
        {"cidr": "10.0.0.1/8"},
        "cidr",
        "'10.0.0.1/8' has host bits set: did you mean 10.0.0.0/8?",
    ),
    Case(
        "cidr-any",
        "ip-sources",
        IpSource,
        _carrier,
        {"cidr": "0.0.0.0/0"},
        "cidr",
        _message(validators.validate_cidr, "0.0.0.0/0"),
    ),
    Case(
        "cidr-garbage",
        "ip-sources",
        IpSource,
        _carrier,
        {"cidr": "not-a-network"},
        "cidr",
        _message(validators.validate_cidr, "not-a-network"),
    ),
    Case(
        "ip-source-two-owners",
        "ip-sources",
        IpSource,
        lambda: {"carrier": factories.carrier().pk, "pbx": factories.pbx().pk},
        {"cidr": "192.0.2.0/24"},
        "non_field_errors",
        "Choose exactly one owner: a carrier or a PBX.",
    ),
    Case(
        "gateway-host",
        "gateways",
        Gateway,
        lambda: {"carrier": factories.carrier().pk, "name": "gw"},
        {"host": "sip:gw.example.com:5060"},
        "host",
        _message(validators.validate_host, "sip:gw.example.com:5060"),
    ),
    Case(
        "gateway-port",
        "gateways",
        Gateway,
        lambda: {"carrier": factories.carrier().pk, "name": "gw", "host": "192.0.2.1"},
        {"port": 70000},
        "port",
        "Ensure this value is less than or equal to 65535.",
    ),
    Case(
        "gateway-socket",
        "gateways",
        Gateway,
        lambda: {"carrier": factories.carrier().pk, "name": "gw", "host": "192.0.2.1"},
        {"socket": "192.0.2.1:5060"},
        "socket",
        _message(validators.validate_socket, "192.0.2.1:5060"),
    ),
    Case(
        "pbx-host",
        "pbxs",
        Pbx,
        lambda: {"tenant": factories.tenant().pk, "name": "main"},
        {"host": "-bad-.example"},
        "host",
        _message(validators.validate_host, "-bad-.example"),
    ),
    Case(
        "domain-fqdn",
        "domains",
        Domain,
        lambda: {"tenant": factories.tenant().pk},
        {"name": "localhost"},
        "name",
        _message(validators.validate_fqdn, "localhost"),
    ),
    Case(
        "carrier-reserved-header",
        "carriers",
        Carrier,
        lambda: {"name": "Alpha"},
        {"extra_headers": "X-Ok: 1\nVia: SIP/2.0/UDP x"},
        "extra_headers",
        "Line 2: Via is managed by the SIP router and cannot be set here.",
    ),
    Case(
        "rule-prefix",
        "route-rules",
        RouteRule,
        dict,
        {"prefix": "+3361"},
        "prefix",
        _message(validators.validate_prefix, "+3361"),
    ),
    Case(
        "rule-prefix-too-long",
        "route-rules",
        RouteRule,
        dict,
        {"prefix": "1" * 21},
        "prefix",
        "Ensure this value has at most 20 characters (it has 21).",
    ),
    Case(
        "rule-weekdays",
        "route-rules",
        RouteRule,
        dict,
        {"weekdays": "189"},
        "weekdays",
        _message(validators.validate_weekdays, "189"),
    ),
    Case(
        "rule-timezone",
        "route-rules",
        RouteRule,
        dict,
        {"timezone": "Mars/Olympus"},
        "timezone",
        _message(validators.validate_timezone, "Mars/Olympus"),
    ),
    Case(
        "rule-window-half",
        "route-rules",
        RouteRule,
        dict,
        {"start_time": "08:00"},
        "end_time",
        "Give both the start and the end of the time window, or neither.",
    ),
    Case(
        "rule-window-empty",
        "route-rules",
        RouteRule,
        dict,
        {"start_time": "08:00", "end_time": "08:00"},
        "end_time",
        "The window ends when it starts: it would never open.",
    ),
    Case(
        "rule-priority",
        "route-rules",
        RouteRule,
        dict,
        {"priority": 5000},
        "priority",
        "Ensure this value is less than or equal to 1000.",
    ),
    Case(
        "normalization-regex",
        "normalization-rules",
        NormalizationRule,
        lambda: {"carrier": factories.carrier().pk, "direction": "in", "kind": "regex"},
        {"pattern": "^0([0-9]+$"},
        "pattern",
        _message(validators.validate_regex, "^0([0-9]+$"),
    ),
    Case(
        "normalization-replacement",
        "normalization-rules",
        NormalizationRule,
        lambda: {"carrier": factories.carrier().pk, "direction": "in", "kind": "regex"},
        {"pattern": "^0([0-9]+)$", "replacement": "33\\2"},
        "replacement",
    ),
    Case(
        "normalization-no-owner",
        "normalization-rules",
        NormalizationRule,
        lambda: {"direction": "in", "strip": 1},
        {"add_prefix": "33"},
        "non_field_errors",
        "Choose exactly one owner: a carrier or a PBX.",
    ),
    Case(
        "normalization-direction",
        "normalization-rules",
        NormalizationRule,
        lambda: {"carrier": factories.carrier().pk, "strip": 1},
        {"direction": "sideways"},
        "direction",
        "Select a valid choice. sideways is not one of the available choices.",
    ),
    Case(
        "did-range-digits",
        "dids",
        Did,
        lambda: (lambda p: {"tenant": p.tenant_id, "pbx": p.pk})(factories.pbx()),  # noqa: PLC3002
        {"number": "33100", "match": "range", "range_end": "3319"},
        "range_end",
        "The last number must have as many digits as the first.",
    ),
    Case(
        "did-pbx-of-another-tenant",
        "dids",
        Did,
        lambda: {"tenant": factories.tenant().pk, "pbx": factories.pbx().pk},
        {"number": "33123"},
        "pbx",
        "This PBX belongs to another tenant.",
    ),
    Case(
        "instance-api-url",
        "router-instances",
        RouterInstance,
        lambda: {"name": "kam", "listen_ip": "192.0.2.1"},
        {"api_urls": "ftp://127.0.0.1/x"},
        "api_urls",
        "Line 1: 'ftp://127.0.0.1/x' is not an http:// or https:// URL.",
    ),
    Case(
        "instance-slug",
        "router-instances",
        RouterInstance,
        lambda: {"listen_ip": "192.0.2.1", "api_urls": "http://127.0.0.1/kamailio/rtjson"},
        {"name": "not a slug"},
        "name",
    ),
    Case(
        "instance-short-token",
        "router-instances",
        RouterInstance,
        lambda: {"name": "kam", "listen_ip": "192.0.2.1", "api_urls": "http://127.0.0.1/x"},
        {"token": "short"},
        "token",
        "Use at least 16 characters for the token.",
    ),
    Case(
        "tenant-duplicate-name",
        "tenants",
        Tenant,
        lambda: {"name": factories.tenant().name},
        {},
        "name",
        "Tenant with this Name already exists.",
    ),
    Case(
        "gateway-duplicate-name",
        "gateways",
        Gateway,
        lambda: (lambda g: {"carrier": g.carrier_id, "name": g.name})(factories.gateway()),  # noqa: PLC3002
        {"host": "192.0.2.99"},
        "non_field_errors",
        "Gateway with this Carrier and Name already exists.",
    ),
    Case(
        "tenant-negative-max-calls",
        "tenants",
        Tenant,
        lambda: {"name": "Limited"},
        {"max_calls": -1},
        "max_calls",
        "Ensure this value is greater than or equal to 0.",
    ),
    Case(
        "carrier-max-cps-too-high",
        "carriers",
        Carrier,
        lambda: {"name": "Fast"},
        {"max_cps": 100_001},
        "max_cps",
        "Ensure this value is less than or equal to 100000.",
    ),
    Case(
        "exchange-rate-currency",
        "exchange-rates",
        ExchangeRate,
        lambda: {"rate": "1.08"},
        {"currency": "eur"},
        "currency",
        _message(validators.validate_currency, "eur"),
    ),
    Case(
        "exchange-rate-base-currency",
        "exchange-rates",
        ExchangeRate,
        lambda: {"rate": "1"},
        {"currency": "USD"},
        "currency",
        "USD is the base currency (C4ROUTER_BASE_CURRENCY): its rate is 1 by definition. "
        "Give the other currencies' rates in it.",
    ),
    Case(
        "exchange-rate-zero",
        "exchange-rates",
        ExchangeRate,
        lambda: {"currency": "EUR"},
        {"rate": "0"},
        "rate",
        "An exchange rate is above zero.",
    ),
]


def admin_form_errors(model: type, data: dict[str, Any], user: Any) -> dict[str, list[str]]:
    """What the admin's add form says about `data` (missing fields take their initial)."""
    request = RequestFactory().get("/")
    request.user = user
    form_class = admin.site._registry[model].get_form(request)
    blank = form_class()
    full: dict[str, Any] = {}
    for name, field in blank.fields.items():
        value = blank.get_initial_for_field(field, name)
        if value is not None and value is not False:
            full[name] = value
    full.update({k: v for k, v in data.items() if v is not None})
    form = form_class(data=full)
    form.is_valid()
    errors = {name: list(messages) for name, messages in form.errors.items()}
    if "__all__" in errors:
        errors["non_field_errors"] = errors.pop("__all__")
    return errors


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_refused_with_the_admins_message(
    api_client: APIClient, admin_user: Any, case: Case
) -> None:
    payload = {**case.payload(), **case.bad}
    count = case.model.objects.count()
    response = api_client.post(f"/api/v1/{case.path}/", payload, format="json")
    assert response.status_code == 400, response.json()
    errors = response.json()
    assert case.field in errors, errors
    if case.message is not None:
        assert case.message in errors[case.field]
    assert case.model.objects.count() == count  # nothing written

    admin_errors = admin_form_errors(case.model, payload, admin_user)
    assert errors[case.field] == admin_errors[case.field]


def test_update_with_bad_input_changes_nothing(api_client: APIClient) -> None:
    source = factories.ip_source(cidr="192.0.2.0/24")
    response = api_client.patch(
        f"/api/v1/ip-sources/{source.pk}/", {"cidr": "192.0.2.1/24"}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {
        "cidr": ["'192.0.2.1/24' has host bits set: did you mean 192.0.2.0/24?"]
    }
    source.refresh_from_db()
    assert source.cidr == "192.0.2.0/24"
    assert source.history.count() == 1


def test_patch_is_validated_with_the_stored_fields(api_client: APIClient) -> None:
    """A PATCH that sets one end of a window is checked against the other end stored."""
    rule = factories.route_rule(start_time="08:00", end_time="18:00", targets=[factories.carrier()])
    response = api_client.patch(
        f"/api/v1/route-rules/{rule.pk}/", {"end_time": "08:00"}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"end_time": ["The window ends when it starts: it would never open."]}
    response = api_client.patch(
        f"/api/v1/route-rules/{rule.pk}/", {"end_time": None, "start_time": None}, format="json"
    )
    assert response.status_code == 200


def test_did_range_overlap(api_client: APIClient) -> None:
    existing = factories.did(number="33100", match="range", range_end="33199")
    response = api_client.post(
        "/api/v1/dids/",
        {
            "tenant": existing.tenant_id,
            "pbx": existing.pbx_id,
            "number": "33150",
            "match": "range",
            "range_end": "33250",
        },
        format="json",
    )
    assert response.status_code == 400
    assert response.json() == {"range_end": ["This range overlaps the range 33100-33199."]}


def test_unknown_related_object(api_client: APIClient) -> None:
    response = api_client.post(
        "/api/v1/gateways/", {"carrier": 999999, "name": "gw", "host": "192.0.2.1"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["carrier"] == [
        "Select a valid choice. That choice is not one of the available choices."
    ]
