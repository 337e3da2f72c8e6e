"""The admin pages of every routing model, on the demo data, as an operator uses them."""

from __future__ import annotations

import datetime
import re
from typing import Any

import pytest
from django import forms
from django.apps import apps
from django.contrib import admin
from django.db import models
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from routing.models import (
    ROUTING_MODELS,
    CallRecord,
    Carrier,
    Did,
    Domain,
    ExchangeRate,
    Gateway,
    GatewayHealth,
    GatewayHealthEvent,
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
    RoutingChange,
    RoutingVersion,
    Tenant,
    TrafficCodeRollup,
    TrafficCodeRollupHour,
    TrafficMoneyRollup,
    TrafficMoneyRollupHour,
    TrafficRollup,
    TrafficRollupHour,
    current_routing_version,
)

pytestmark = pytest.mark.django_db


# For each registered model: a demo object, and text its list row shows.
DEMO_ROWS: dict[type[models.Model], tuple[dict[str, Any], str]] = {
    Tenant: ({"name": "Acme Corp"}, "Acme Corp"),
    Domain: ({"name": "domain.com"}, "domain.com"),
    Pbx: ({"name": "acme-hq"}, "10.10.0.10:5060"),
    Carrier: ({"name": "Alpha Telecom"}, "198.51.100.0/28, 203.0.113.0/28"),
    Gateway: ({"name": "alpha-2"}, "203.0.113.11:5060"),
    IpSource: ({"cidr": "192.0.2.16/28"}, "carrier Beta Voice"),
    Did: ({"number": "33123456780"}, "33123456780 - 33123456789 (10 numbers)"),
    NormalizationRule: ({"pattern": r"^33(\d{9})$", "carrier__isnull": False}, "0123456789"),
    RouteRule: ({"name": "France"}, "1. Alpha Telecom<br>2. Beta Voice"),
    RouterInstance: ({"name": "edge1"}, "127.0.0.1:5060"),
    NumberList: ({"name": "Fraud destinations"}, "403 Destination blocked"),
    NumberListEntry: ({"number": "3389"}, "French premium-rate numbers (08 9x)"),
    HealthPolicy: ({"name": "Probe every 10 s"}, "Probe every 10 s"),
    RateDeck: ({"name": "Alpha Telecom buy"}, "carrier Alpha Telecom"),
    Rate: ({"prefix": "336"}, "France mobiles"),
    ExchangeRate: ({"currency": "EUR"}, "1.08 USD"),
    LnpRule: ({"prefix": "1"}, "LNP global 1"),
    PortedNumber: ({"number": "12025550123"}, "13125550000"),
    RoutingVersion: ({"pk": 1}, "routing data v"),
}


def url(model: type[models.Model], view: str, *args: object) -> str:
    return reverse(f"admin:routing_{model._meta.model_name}_{view}", args=args)


def demo_object(model: type[models.Model]) -> models.Model:
    return model._default_manager.filter(**DEMO_ROWS[model][0]).first()  # type: ignore[return-value]


def html(response: Any) -> str:
    return response.content.decode()


def page_data(response: Any) -> dict[str, str]:
    """The POST data of an admin form page as the browser would send it, unchanged."""
    data: dict[str, str] = {}

    def add(form: forms.BaseForm) -> None:
        for bound in form:
            value = bound.value()
            if isinstance(bound.field, forms.BooleanField):
                if value:
                    data[bound.html_name] = "on"
            elif value is None:
                continue
            elif isinstance(bound.field, forms.SplitDateTimeField):
                # The admin's date and time boxes (a rate's effective dates).
                local = timezone.localtime(value) if isinstance(value, datetime.datetime) else None
                if local is not None:
                    data[f"{bound.html_name}_0"] = local.strftime("%Y-%m-%d")
                    data[f"{bound.html_name}_1"] = local.strftime("%H:%M:%S")
            elif isinstance(value, datetime.time):
                data[bound.html_name] = value.strftime("%H:%M:%S")
            else:
                data[bound.html_name] = str(value)

    add(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        add(inline.formset.management_form)
        for form in inline.formset.forms:
            add(form)
    return data


def row_counts() -> dict[str, int]:
    return {model.__name__: model._default_manager.count() for model in ROUTING_MODELS}


# --- Registration and access -----------------------------------------------------------------


def test_every_routing_model_is_in_the_admin() -> None:
    registered = {model for model in admin.site._registry if model._meta.app_label == "routing"}
    concrete = {
        model
        for model in apps.get_app_config("routing").get_models()
        if not model.__name__.startswith("Historical")
    }
    # Route targets are edited inside their rule; the change log is the workers' own
    # bookkeeping (each object's History page is what admins read); the traffic rollups are
    # sums of the call records, read by the Traffic pages, never edited. A gateway's health
    # and its history are Kamailio's reports, shown on the gateway's page and lists.
    rollups = {
        TrafficRollup, TrafficRollupHour, TrafficCodeRollup, TrafficCodeRollupHour,
        TrafficMoneyRollup, TrafficMoneyRollupHour,
    }  # fmt: skip
    health = {GatewayHealth, GatewayHealthEvent}
    assert registered == concrete - {RouteTarget, RoutingChange} - rollups - health
    # Call records are read-only, made by Kamailio: tests/admin/test_cdr_admin.py.
    assert set(DEMO_ROWS) == registered - {CallRecord}


@pytest.mark.parametrize("model", list(DEMO_ROWS), ids=lambda model: model.__name__)
def test_anonymous_users_are_sent_to_the_login_page(demo: None, client: Client, model: Any) -> None:
    for target in (url(model, "changelist"), url(model, "change", demo_object(model).pk)):
        response = client.get(target)
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/?next=")


def test_staff_without_permissions_cannot_see_routing_data(
    demo: None, client: Client, django_user_model: Any
) -> None:
    user = django_user_model.objects.create_user("viewer", password="pw-123456", is_staff=True)
    client.force_login(user)
    assert client.get(url(Carrier, "changelist")).status_code == 403


# --- Every model: list, add, change, history -------------------------------------------------


@pytest.mark.parametrize("model", list(DEMO_ROWS), ids=lambda model: model.__name__)
def test_changelist_shows_the_demo_rows(demo: None, admin_client: Client, model: Any) -> None:
    response = admin_client.get(url(model, "changelist"))
    assert response.status_code == 200
    assert DEMO_ROWS[model][1] in html(response)


@pytest.mark.parametrize("model", list(DEMO_ROWS), ids=lambda model: model.__name__)
def test_changelist_search_and_filters_work(demo: None, admin_client: Client, model: Any) -> None:
    model_admin = admin.site._registry[model]
    if model_admin.search_fields:
        assert admin_client.get(url(model, "changelist"), {"q": "a"}).status_code == 200
    for list_filter in model_admin.list_filter:
        if isinstance(list_filter, str):
            continue
        for value, _label in list_filter(None, {}, model, model_admin).lookup_choices:
            response = admin_client.get(
                url(model, "changelist"), {list_filter.parameter_name: value}
            )
            assert response.status_code == 200


@pytest.mark.parametrize(
    "model", [m for m in DEMO_ROWS if m is not RoutingVersion], ids=lambda model: model.__name__
)
def test_add_page(demo: None, admin_client: Client, model: Any) -> None:
    assert admin_client.get(url(model, "add")).status_code == 200


@pytest.mark.parametrize("model", list(DEMO_ROWS), ids=lambda model: model.__name__)
def test_change_page(demo: None, admin_client: Client, model: Any) -> None:
    obj = demo_object(model)
    response = admin_client.get(url(model, "change", obj.pk))
    assert response.status_code == 200
    assert str(obj) in html(response)


@pytest.mark.parametrize(
    "model", [m for m in DEMO_ROWS if m is not RoutingVersion], ids=lambda model: model.__name__
)
def test_saving_an_unchanged_change_page_succeeds(
    demo: None, admin_client: Client, model: Any
) -> None:
    # Every demo object, with its inlines, passes the admin's own validation as shown.
    obj = demo_object(model)
    page = admin_client.get(url(model, "change", obj.pk))
    response = admin_client.post(url(model, "change", obj.pk), page_data(page))
    assert response.status_code == 302, response.context and response.context["errors"]


# Ported numbers have no per-row history (tens of millions of rows): their page lists the
# admin log's entries (imports, edits): tests/routing/test_lnp.py.
@pytest.mark.parametrize(
    "model",
    [m for m in DEMO_ROWS if m not in (RoutingVersion, PortedNumber)],
    ids=lambda model: model.__name__,
)
def test_history_page(demo: None, admin_client: Client, model: Any) -> None:
    obj = demo_object(model)
    response = admin_client.get(url(model, "history", obj.pk))
    assert response.status_code == 200
    assert "Created" in html(response)  # the demo's own creation is in the history


def test_history_records_who_changed_what(demo: None, admin_client: Client) -> None:
    carrier = demo_object(Carrier)
    page = admin_client.get(url(Carrier, "change", carrier.pk))
    data = page_data(page) | {"description": "Renegotiated in 2026."}
    assert admin_client.post(url(Carrier, "change", carrier.pk), data).status_code == 302
    latest = carrier.history.first()  # type: ignore[attr-defined]
    assert latest.description == "Renegotiated in 2026."
    assert latest.history_user.username == "admin"
    assert "admin" in html(admin_client.get(url(Carrier, "history", carrier.pk)))


def test_routing_version_is_read_only(demo: None, admin_client: Client) -> None:
    assert admin_client.get(url(RoutingVersion, "add")).status_code == 403
    response = admin_client.get(url(RoutingVersion, "change", 1))
    assert response.status_code == 200
    assert 'name="_save"' not in html(response)
    before = current_routing_version()
    admin_client.post(url(RoutingVersion, "change", 1), {"version": "0"})
    assert current_routing_version() == before
    assert admin_client.post(url(RoutingVersion, "delete", 1)).status_code == 403


# --- Readable lists ---------------------------------------------------------------------------


def test_dids_read_as_numbers_ranges_and_prefixes(demo: None, admin_client: Client) -> None:
    page = html(admin_client.get(url(Did, "changelist")))
    assert "33123456780 - 33123456789 (10 numbers)" in page
    assert "33987654321" in page
    assert "44207946… (every number starting with 44207946)" in page


def test_route_rules_show_scope_window_and_targets(demo: None, admin_client: Client) -> None:
    page = html(admin_client.get(url(RouteRule, "changelist")))
    assert "(default route)" in page
    assert "days 12345 09:00-18:00 (America/New_York)" in page
    assert "1. Gamma Carrier<br>2. gateway alpha-1 (Alpha Telecom)" in page
    assert "Acme Corp" in page and "global" in page


def test_router_instance_token_only_on_its_change_page(demo: None, admin_client: Client) -> None:
    instance = demo_object(RouterInstance)
    assert isinstance(instance, RouterInstance)
    listing = html(admin_client.get(url(RouterInstance, "changelist")))
    assert instance.token not in listing
    searched = admin_client.get(url(RouterInstance, "changelist"), {"q": instance.token})
    assert "0 router instances" in html(searched)
    assert instance.token in html(admin_client.get(url(RouterInstance, "change", instance.pk)))


def test_ip_source_search_finds_the_network_of_an_address(demo: None, admin_client: Client) -> None:
    page = html(admin_client.get(url(IpSource, "changelist"), {"q": "198.51.100.10"}))
    assert "198.51.100.0/28" in page
    assert "192.0.2.16/28" not in page
    assert "1 IP source" in page


def test_enabled_is_editable_from_the_list(demo: None, admin_client: Client) -> None:
    gateway = Gateway.objects.get(name="alpha-2")
    page = admin_client.get(url(Gateway, "changelist"))
    formset = page.context["cl"].formset
    data = {name: str(value) for name, value in formset.management_form.initial.items()}
    data = {f"form-{name}": value for name, value in data.items()}
    for index, form in enumerate(formset.forms):
        data[f"form-{index}-id"] = str(form.instance.pk)
        if form.instance.enabled and form.instance.pk != gateway.pk:
            data[f"form-{index}-enabled"] = "on"
    data["_save"] = "Save"
    response = admin_client.post(url(Gateway, "changelist"), data)
    assert response.status_code == 302
    gateway.refresh_from_db()
    assert gateway.enabled is False
    assert Gateway.objects.filter(enabled=True).count() == 4  # gamma-2 was off already


def test_domain_inline_offers_only_the_tenants_pbxs(demo: None, admin_client: Client) -> None:
    acme = Tenant.objects.get(name="Acme Corp")
    page = admin_client.get(url(Tenant, "change", acme.pk))
    (domains,) = [i for i in page.context["inline_admin_formsets"] if i.opts.model is Domain]
    choices = set(domains.formset.forms[0].fields["pbx"].queryset)
    assert choices == set(Pbx.objects.filter(tenant=acme))


# --- Adding through the forms -------------------------------------------------------------------


def test_add_a_carrier_with_its_gateway_network_and_number_rule(
    demo: None, admin_client: Client
) -> None:
    data = page_data(admin_client.get(url(Carrier, "add")))
    data |= {
        "name": "Delta Networks",
        "gateways-0-name": "delta-1",
        "gateways-0-host": "sip.delta.example",
        "gateways-0-port": "5061",
        "gateways-0-transport": "tls",
        "ip_sources-0-cidr": "192.0.2.64/28",
        "normalization_rules-TOTAL_FORMS": "1",
        "normalization_rules-0-direction": "in",
        "normalization_rules-0-applies_to": "both",
        "normalization_rules-0-priority": "10",
        "normalization_rules-0-kind": "prefix",
        "normalization_rules-0-match_prefix": "0",
        "normalization_rules-0-strip": "1",
        "normalization_rules-0-add_prefix": "33",
        "normalization_rules-0-example_input": "0123456789",
        "normalization_rules-0-example_output": "33123456789",
        "normalization_rules-0-enabled": "on",
    }
    before = current_routing_version()
    response = admin_client.post(url(Carrier, "add"), data)
    assert response.status_code == 302, response.context and response.context["errors"]
    carrier = Carrier.objects.get(name="Delta Networks")
    gateway = carrier.gateways.get()
    assert (gateway.name, gateway.address, gateway.transport) == (
        "delta-1",
        "sip.delta.example:5061",
        "tls",
    )
    assert [s.cidr for s in carrier.ip_sources.all()] == ["192.0.2.64/28"]
    assert carrier.normalization_rules.get().add_prefix == "33"
    assert current_routing_version() > before


def invalid_post(admin_client: Client, model: Any, data: dict[str, str]) -> str:
    """POST an add form expected to fail; returns the page, after checking nothing changed."""
    counts, version = row_counts(), current_routing_version()
    response = admin_client.post(url(model, "add"), data)
    assert response.status_code == 200  # the form again, with its errors
    assert row_counts() == counts
    assert current_routing_version() == version
    return html(response)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("ip_sources-0-cidr", "192.0.2.65/28", "has host bits set: did you mean 192.0.2.64/28?"),
        ("ip_sources-0-cidr", "0.0.0.0/0", "would trust too much of the Internet"),
        (
            "ip_sources-0-cidr",
            "198.51.100.0/28",
            "The network 198.51.100.0/28 is already an IP source of carrier Alpha Telecom",
        ),
        ("gateways-0-host", "sip:gw.delta.example", "is not an IP address or host name"),
        ("gateways-0-host", "192.0.2.70:5060", "is not an IP address or host name"),
        ("gateways-0-weight", "0", "Ensure this value is greater than or equal to 1."),
        ("gateways-0-port", "70000", "Ensure this value is less than or equal to 65535."),
        ("name", "Alpha Telecom", "Carrier with this Name already exists."),
    ],
)
def test_add_a_carrier_with_bad_input_writes_nothing(
    demo: None, admin_client: Client, field: str, value: str, message: str
) -> None:
    data = page_data(admin_client.get(url(Carrier, "add")))
    data |= {
        "name": "Delta Networks",
        "gateways-0-name": "delta-1",
        "gateways-0-host": "192.0.2.70",
        "ip_sources-0-cidr": "192.0.2.64/28",
        field: value,
    }
    assert message in invalid_post(admin_client, Carrier, data).replace("&#x27;", "'")


def test_add_an_ip_source_normalizes_a_bare_address(demo: None, admin_client: Client) -> None:
    pbx = Pbx.objects.get(name="globex-pbx")
    data = page_data(admin_client.get(url(IpSource, "add")))
    data |= {"cidr": "10.20.0.6", "pbx": str(pbx.pk), "description": "Backup PBX"}
    response = admin_client.post(url(IpSource, "add"), data)
    assert response.status_code == 302
    assert IpSource.objects.get(cidr="10.20.0.6/32").pbx == pbx


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"cidr": "10.30.0.1/24"}, "has host bits set: did you mean 10.30.0.0/24?"),
        ({"cidr": "not-a-network"}, "is not an IP network such as 192.0.2.0/24"),
        ({"cidr": ""}, "This field is required."),
        ({"carrier": ""}, "Choose exactly one owner: a carrier or a PBX."),
        ({"pbx": "PBX"}, "Choose exactly one owner: a carrier or a PBX."),
    ],
)
def test_add_an_ip_source_with_bad_input_writes_nothing(
    demo: None, admin_client: Client, values: dict[str, str], message: str
) -> None:
    carrier = Carrier.objects.get(name="Gamma Carrier")
    pbx = Pbx.objects.get(name="globex-pbx")
    data = page_data(admin_client.get(url(IpSource, "add")))
    data |= {"cidr": "10.30.0.0/24", "carrier": str(carrier.pk)}
    data |= {name: str(pbx.pk) if value == "PBX" else value for name, value in values.items()}
    page = invalid_post(admin_client, IpSource, data).replace("&#x27;", "'")
    assert message in page
    assert page.count(message) == 1  # said once, not once per layer


def test_add_a_route_rule_with_ordered_targets(demo: None, admin_client: Client) -> None:
    beta = Carrier.objects.get(name="Beta Voice")
    alpha_2 = Gateway.objects.get(name="alpha-2")
    data = page_data(admin_client.get(url(RouteRule, "add")))
    data |= {
        "name": "Germany",
        "prefix": "49",
        "priority": "50",
        "weekdays": "67",
        "start_time": "08:00",
        "end_time": "20:00",
        "timezone": "Europe/Berlin",
        "targets-TOTAL_FORMS": "2",
        "targets-0-order": "0",
        "targets-0-carrier": str(beta.pk),
        "targets-0-weight": "100",
        "targets-1-order": "1",
        "targets-1-gateway": str(alpha_2.pk),
        "targets-1-weight": "100",
    }
    response = admin_client.post(url(RouteRule, "add"), data)
    assert response.status_code == 302, response.context and response.context["errors"]
    rule = RouteRule.objects.get(name="Germany")
    assert rule.tenant is None and rule.has_window
    assert [(t.order, t.carrier, t.gateway) for t in rule.targets.order_by("order")] == [
        (0, beta, None),
        (1, None, alpha_2),
    ]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"prefix": "+49"}, "Enter digits only (0-9), without '+', spaces or dashes."),
        ({"prefix": "49 30"}, "Enter digits only (0-9), without '+', spaces or dashes."),
        ({"caller_prefix": "33x"}, "Enter digits only (0-9), without '+', spaces or dashes."),
        ({"weekdays": "8"}, "Enter the days as digits 1-7"),
        ({"timezone": "Berlin"}, "is not a known time zone"),
        ({"start_time": "09:00"}, "Give both the start and the end of the time window"),
        ({"extra_headers": "Via: x"}, "Via is managed by the SIP router"),
        (
            {"targets-0-carrier": "", "targets-0-weight": "50"},
            "Choose exactly one destination: a carrier or a gateway.",
        ),
        ({"targets-0-gateway": "GW"}, "Choose exactly one destination: a carrier or a gateway."),
        ({"targets-0-order": "100"}, "Ensure this value is less than or equal to 99."),
        ({"targets-0-carrier": ""}, "A rule that routes needs at least one target."),
        (
            {"action": "reject", "reject_code": "403", "reject_reason": "Forbidden"},
            "A rule that rejects its calls has no targets",
        ),
        (
            {"action": "reject", "targets-0-carrier": ""},
            "A rule that rejects needs the SIP code to answer.",
        ),
        (
            {"action": "reject", "reject_code": "200", "reject_reason": "OK"},
            "Ensure this value is greater than or equal to 400.",
        ),
        (
            {"action": "reject", "reject_code": "403", "reject_reason": "No\tway"},
            "Enter a SIP reason phrase",
        ),
        ({"reject_code": "403"}, "Only for a rule that rejects"),
    ],
)
def test_add_a_route_rule_with_bad_input_writes_nothing(
    demo: None, admin_client: Client, values: dict[str, str], message: str
) -> None:
    beta = Carrier.objects.get(name="Beta Voice")
    gateway = Gateway.objects.get(name="alpha-2")
    data = page_data(admin_client.get(url(RouteRule, "add")))
    data |= {"name": "Germany", "prefix": "49", "targets-0-carrier": str(beta.pk)}
    data |= {name: str(gateway.pk) if value == "GW" else value for name, value in values.items()}
    page = invalid_post(admin_client, RouteRule, data).replace("&#x27;", "'")
    assert message in page


def test_add_a_rule_that_rejects_its_calls(demo: None, admin_client: Client) -> None:
    data = page_data(admin_client.get(url(RouteRule, "add")))
    data |= {
        "name": "Premium block",
        "prefix": "3389",
        "action": "reject",
        "reject_code": "403",
        "reject_reason": "Premium Numbers Blocked",
    }
    response = admin_client.post(url(RouteRule, "add"), data)
    assert response.status_code == 302, response.context and response.context["errors"]
    rule = RouteRule.objects.get(name="Premium block")
    assert (rule.action, rule.reject_code, rule.reject_reason) == (
        "reject",
        403,
        "Premium Numbers Blocked",
    )
    assert not rule.targets.exists()
    listed = html(admin_client.get(url(RouteRule, "changelist")))
    assert "rejects: 403 Premium Numbers Blocked" in listed


def test_add_a_tenant_with_a_pbx(demo: None, admin_client: Client) -> None:
    data = page_data(admin_client.get(url(Tenant, "add")))
    data |= {"name": "Initech", "pbxs-0-name": "initech-pbx", "pbxs-0-host": "10.30.0.5"}
    response = admin_client.post(url(Tenant, "add"), data)
    assert response.status_code == 302, response.context and response.context["errors"]
    assert Tenant.objects.get(name="Initech").pbxs.get().address == "10.30.0.5:5060"


def test_add_a_pbx_with_its_network(demo: None, admin_client: Client) -> None:
    globex = Tenant.objects.get(name="Globex")
    data = page_data(admin_client.get(url(Pbx, "add")))
    data |= {
        "tenant": str(globex.pk),
        "name": "globex-branch",
        "host": "10.21.0.5",
        "ip_sources-0-cidr": "10.21.0.0/24",
    }
    response = admin_client.post(url(Pbx, "add"), data)
    assert response.status_code == 302, response.context and response.context["errors"]
    assert Pbx.objects.get(name="globex-branch").ip_sources.get().cidr == "10.21.0.0/24"


def test_add_a_did_range_for_another_tenants_pbx_is_refused(
    demo: None, admin_client: Client
) -> None:
    acme = Tenant.objects.get(name="Acme Corp")
    globex_pbx = Pbx.objects.get(name="globex-pbx")
    data = page_data(admin_client.get(url(Did, "add")))
    data |= {
        "tenant": str(acme.pk),
        "pbx": str(globex_pbx.pk),
        "match": "range",
        "number": "33123456700",
        "range_end": "33123456709",
    }
    assert "This PBX belongs to another tenant." in invalid_post(admin_client, Did, data)
    data["pbx"] = str(Pbx.objects.get(name="acme-hq").pk)
    data["range_end"] = "33123456785"  # overlaps the demo's block
    page = invalid_post(admin_client, Did, data)
    assert "This range overlaps the range 33123456780-33123456789." in page


def test_add_a_normalization_rule_whose_example_fails(demo: None, admin_client: Client) -> None:
    data = page_data(admin_client.get(url(NormalizationRule, "add")))
    data |= {
        "carrier": str(Carrier.objects.get(name="Gamma Carrier").pk),
        "direction": "out",
        "kind": "regex",
        "pattern": r"^44(\d+)$",
        "replacement": r"0\1",
        "example_input": "33123456789",
        "example_output": "0123456789",
    }
    page = invalid_post(admin_client, NormalizationRule, data).replace("&#x27;", "'")
    assert "The rule turns '33123456789' into no match, not '0123456789'." in page


def test_add_a_router_instance(demo: None, admin_client: Client) -> None:
    data = page_data(admin_client.get(url(RouterInstance, "add")))
    data |= {
        "name": "edge2",
        "listen_ip": "192.0.2.1",
        "api_urls": "http://127.0.0.1:8000/kamailio/rtjson\nhttp://127.0.0.2:8000/kamailio/rtjson",
    }
    response = admin_client.post(url(RouterInstance, "add"), data)
    assert response.status_code == 302, response.context and response.context["errors"]
    edge2 = RouterInstance.objects.get(name="edge2")
    assert len(edge2.api_url_list) == 2
    assert len(edge2.token) >= 32
    assert edge2.token != RouterInstance.objects.get(name="edge1").token


def test_the_forms_explain_themselves(demo: None, admin_client: Client) -> None:
    # Someone who has never seen Kamailio gets a sentence per group of fields.
    gateway = html(admin_client.get(url(Gateway, "add")))
    for heading in ("Where to send", "Number handling", "Timers"):
        assert heading in gateway
    assert "IP address or DNS name of the SIP peer" in gateway
    rule = html(admin_client.get(url(RouteRule, "add")))
    assert "longest matching destination prefix wins" in rule
    assert re.search(r"Targets: one carrier or one gateway per line", rule)
