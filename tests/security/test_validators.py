"""Issue 11, items 1, 13 and 18 at the doors where data comes in (models, API, CSV import),
and the property behind them all: no value a validator accepts holds CR, LF, NUL or any
character outside its field's grammar.

Each test_fNN_ fails on the code before the fix (see the branch's report).
"""

from __future__ import annotations

import inspect
import io
import itertools
import re
from collections.abc import Callable
from typing import Any

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import models
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from routing import imports, validators
from routing.did_overlaps import DidIndex, DidSpan, overlap
from routing.models import (
    Carrier,
    Did,
    Domain,
    Gateway,
    IpSource,
    Pbx,
    RouterInstance,
    Tenant,
)
from tests.api import factories

# The values of issue 11, item 1: a scope id that carries two lines with it.
SCOPED = "fe80::1%x\r\nX-Injected: yes"
SCOPED_CONFIG = "fe80::1%x\r\n#!define INJECTED 1\r\nchildren=1"


def errors_of(obj: models.Model) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as error:
        obj.full_clean()
    return error.value.message_dict


# --- item 1: scoped IPv6 addresses, everywhere an address is typed -------------------------------


@pytest.fixture
def acme(db: None) -> dict[str, Any]:
    tenant = Tenant.objects.create(name="Acme")
    carrier = Carrier.objects.create(name="Alpha")
    return {
        "tenant": tenant,
        "pbx": Pbx.objects.create(tenant=tenant, name="hq", host="192.0.2.10"),
        "carrier": carrier,
        "gateway": Gateway.objects.create(carrier=carrier, name="alpha-1", host="192.0.2.20"),
    }


ADDRESS_FIELDS: list[tuple[str, str, str]] = [
    # factory, field, the hostile value
    ("gateway", "host", SCOPED),
    ("gateway", "host", "fe80::1%eth0"),
    ("pbx", "host", SCOPED),
    ("carrier", "from_domain", SCOPED),
    ("domain", "name", SCOPED),
    ("source", "cidr", "fe80::%x\r\nX-Injected: yes/64"),
    ("source", "cidr", "fe80::1%eth0"),
    ("instance", "listen_ip", SCOPED_CONFIG),
    ("instance", "advertised_address", SCOPED_CONFIG),
]


def _unsaved(factory: str, acme: dict[str, Any]) -> models.Model:
    return {
        "gateway": lambda: Gateway(carrier=acme["carrier"], name="gw", host="192.0.2.21"),
        "pbx": lambda: Pbx(tenant=acme["tenant"], name="branch", host="192.0.2.11"),
        "carrier": lambda: Carrier(name="Beta"),
        "domain": lambda: Domain(tenant=acme["tenant"], name="voice.acme.example"),
        "source": lambda: IpSource(cidr="192.0.2.0/28", carrier=acme["carrier"]),
        "instance": lambda: RouterInstance(
            name="edge2", listen_ip="127.0.0.1", api_urls="http://127.0.0.1:8000/kamailio/rtjson"
        ),
    }[factory]()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("factory", "field", "value"),
    [pytest.param(*case, id=f"{case[0]}.{case[1]}={case[2]!r}") for case in ADDRESS_FIELDS],
)
def test_f01_scoped_addresses_are_refused_by_every_model(
    acme: dict[str, Any], factory: str, field: str, value: str
) -> None:
    obj = _unsaved(factory, acme)
    obj.full_clean()  # valid as built
    setattr(obj, field, value)
    assert field in errors_of(obj)


API_CASES: list[tuple[str, Callable[[dict[str, Any]], dict[str, Any]], str]] = [
    ("gateways", lambda w: {"carrier": w["carrier"].pk, "name": "gw", "host": SCOPED}, "host"),
    ("pbxs", lambda w: {"tenant": w["tenant"].pk, "name": "b", "host": SCOPED}, "host"),
    ("carriers", lambda w: {"name": "Beta", "from_domain": SCOPED}, "from_domain"),
    ("ip-sources", lambda w: {"carrier": w["carrier"].pk, "cidr": "fe80::%x/64"}, "cidr"),
    (
        "router-instances",
        lambda w: {"name": "edge2", "listen_ip": SCOPED_CONFIG, "api_urls": "http://a.example/"},
        "listen_ip",
    ),
    (
        "router-instances",
        lambda w: {
            "name": "edge2",
            "listen_ip": "127.0.0.1",
            "advertised_address": SCOPED_CONFIG,
            "api_urls": "http://a.example/",
        },
        "advertised_address",
    ),
]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "payload", "field"),
    [pytest.param(*case, id=f"{case[0]}.{case[2]}") for case in API_CASES],
)
def test_f01_scoped_addresses_are_refused_by_the_api(
    admin_user: Any, acme: dict[str, Any], path: str, payload: Any, field: str
) -> None:
    client = APIClient()
    client.force_authenticate(admin_user)
    response = client.post(f"/api/v1/{path}/", payload(acme), format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()


def test_f01_the_route_testers_source_ip_refuses_a_scope_id() -> None:
    # The admin's route tester and `manage.py route` take the source IP through validate_ip.
    with pytest.raises(ValidationError):
        validators.validate_ip("10.10.0.10%x\nforged")
    with pytest.raises(ValidationError):
        validators.validate_ip("fe80::1%x\nforged")


# --- item 13: what the renderer refuses is refused at save ---------------------------------------

INSTANCE_BAD: list[tuple[str, str]] = [
    ("token", 'quote"0123456789abcdef'),
    ("token", "space 0123456789abcdef"),
    ("token", "newline\n0123456789abcdef"),
    ("token", "non-ascii-é-0123456789abcdef"),
    ("api_urls", 'http://127.0.0.1:8000/kamailio/rtjson";exit;'),
    ("api_urls", "http://127.0.0.1:8000/kamailio\\rtjson"),
    ("name", "-edge"),
    ("name", "_edge"),
    ("advertised_address", "edge.example."),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("field", "value"), INSTANCE_BAD, ids=[repr(v) for _, v in INSTANCE_BAD])
def test_f13_instance_values_the_renderer_refuses_are_refused_by_model_and_api(
    admin_user: Any, field: str, value: str
) -> None:
    payload = {
        "name": "edge2",
        "listen_ip": "127.0.0.1",
        "api_urls": "http://127.0.0.1:8000/kamailio/rtjson",
        "token": "a-good-token-0123456789",
        field: value,
    }
    assert field in errors_of(RouterInstance(**payload))
    client = APIClient()
    client.force_authenticate(admin_user)
    response = client.post("/api/v1/router-instances/", payload, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert not RouterInstance.objects.exists()


# --- item 18: a number belongs to one tenant only; one rule for trusted networks -----------------


@pytest.fixture
def two_tenants(db: None) -> dict[str, Any]:
    acme = factories.tenant(name="Acme")
    globex = factories.tenant(name="Globex")
    return {
        "acme": acme,
        "globex": globex,
        "acme_pbx": factories.pbx(tenant=acme, name="main"),
        "globex_pbx": factories.pbx(tenant=globex, name="main"),
    }


def _did(w: dict[str, Any], owner: str, number: str, match: str = "exact", end: str = "") -> Did:
    return Did(tenant=w[owner], pbx=w[f"{owner}_pbx"], number=number, match=match, range_end=end)


# (Globex's existing DID, Acme's new one, the field refused, the message's name of Globex's)
CROSS_TENANT: list[tuple[tuple[str, str, str], tuple[str, str, str], str, str]] = [
    (("33123456700", "range", "33123456799"), ("33123456750", "exact", ""), "number",
     "the range 33123456700-33123456799"),
    (("3312", "prefix", ""), ("33123456750", "exact", ""), "number",
     "the prefix 3312* (every number starting with 3312)"),
    (("33123456750", "exact", ""), ("3312", "prefix", ""), "number", "the number 33123456750"),
    (("33123456700", "range", "33123456799"), ("331234567", "prefix", ""), "number",
     "the range 33123456700-33123456799"),
    (("3312", "prefix", ""), ("331299", "prefix", ""), "number",
     "the prefix 3312* (every number starting with 3312)"),
    (("33123456750", "exact", ""), ("33123456700", "range", "33123456799"), "range_end",
     "the number 33123456750"),
    (("3312345675", "prefix", ""), ("33123456700", "range", "33123456799"), "range_end",
     "the prefix 3312345675* (every number starting with 3312345675)"),
    (("33123456700", "range", "33123456799"), ("33123456790", "range", "33123456800"),
     "range_end", "the range 33123456700-33123456799"),
]  # fmt: skip


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("theirs", "mine", "field", "named"),
    CROSS_TENANT,
    ids=[f"{c[1][1]}-{c[1][0]}-vs-{c[0][1]}-{c[0][0]}" for c in CROSS_TENANT],
)
def test_f18_cross_tenant_did_overlaps_are_refused_by_model_api_and_csv(
    two_tenants: dict[str, Any],
    admin_user: Any,
    theirs: tuple[str, str, str],
    mine: tuple[str, str, str],
    field: str,
    named: str,
) -> None:
    w = two_tenants
    existing = _did(w, "globex", *theirs)
    existing.full_clean()
    existing.save()
    expected = f"This overlaps {named} of tenant Globex: a number can belong to one tenant only."

    assert errors_of(_did(w, "acme", *mine)) == {field: [expected]}

    client = APIClient()
    client.force_authenticate(admin_user)
    number, match, end = mine
    payload = {"tenant": w["acme"].pk, "pbx": w["acme_pbx"].pk, "number": number,
               "match": match, "range_end": end}  # fmt: skip
    response = client.post("/api/v1/dids/", payload, format="json")
    assert response.status_code == 400, response.content
    assert response.json() == {field: [expected]}

    csv = f"tenant,number,match,range_end,pbx\nAcme,{number},{match},{end},main\n"
    with pytest.raises(imports.ImportFailed) as failed:
        imports.import_dids(io.StringIO(csv))
    assert [(e.line, e.field, e.message) for e in failed.value.errors] == [(2, field, expected)]
    assert list(Did.objects.all()) == [existing]


@pytest.mark.django_db
def test_f18_overlaps_between_lines_of_one_csv_file_are_refused(
    two_tenants: dict[str, Any],
) -> None:
    csv = (
        "tenant,number,match,range_end,pbx\n"
        "Globex,3312,prefix,,main\n"
        "Acme,33123456789,exact,,main\n"  # inside Globex's prefix, one line above
        "Acme,4420,prefix,,main\n"
        "Globex,44201234,range,44201299,main\n"  # crosses Acme's prefix
    )
    with pytest.raises(imports.ImportFailed) as failed:
        imports.import_dids(io.StringIO(csv))
    assert [(e.line, e.field) for e in failed.value.errors] == [(3, "number"), (5, "range_end")]
    assert "the prefix 3312* (every number starting with 3312) of tenant Globex" in (
        failed.value.errors[0].message
    )
    assert "the prefix 4420* (every number starting with 4420) of tenant Acme" in (
        failed.value.errors[1].message
    )
    assert not Did.objects.exists()


@pytest.mark.django_db
def test_f18_overlaps_within_one_tenant_stay_allowed(two_tenants: dict[str, Any]) -> None:
    # A guard (passed before the fix too): the rule must not refuse these.
    # Sending part of one's own block elsewhere is what exact-before-range-before-prefix is for.
    w = two_tenants
    for number, match, end in [
        ("33123456700", "range", "33123456799"),
        ("33123456750", "exact", ""),
        ("3312", "prefix", ""),
        ("331299", "prefix", ""),
    ]:
        did = _did(w, "acme", number, match, end)
        did.full_clean()
        did.save()
    # ...and another tenant's numbers beside them, not inside, are fine too.
    _did(w, "globex", "33143456800").full_clean()
    _did(w, "globex", "3315", "prefix").full_clean()
    imports.import_dids(
        io.StringIO("tenant,number,match,range_end,pbx\nAcme,33123456751,exact,,main\n")
    )


# Small numbers over a small alphabet: every overlap is found by enumerating them.
_digits = st.text(alphabet="012", min_size=1, max_size=4)


@st.composite
def _spans(draw: st.DrawFn) -> DidSpan:
    match = draw(st.sampled_from(["exact", "range", "prefix"]))
    number = draw(_digits)
    end = ""
    if match == "range":
        end = draw(st.text(alphabet="012", min_size=len(number), max_size=len(number)))
        number, end = min(number, end), max(number, end)
    return DidSpan(draw(st.uuids()), draw(st.integers(1, 2)), "t", match, number, end)


def _numbers(span: DidSpan) -> set[str]:
    everything = {
        "".join(digits) for size in range(1, 5) for digits in itertools.product("012", repeat=size)
    }
    if span.match == "prefix":
        return {n for n in everything if n.startswith(span.number)}
    return {n for n in everything if len(n) == len(span.first) and span.first <= n <= span.last}


@settings(max_examples=300, deadline=None)
@given(st.lists(_spans(), min_size=1, max_size=12), _spans())
def test_f18_the_overlap_rule_and_its_index_agree_with_counting_numbers(
    others: list[DidSpan], span: DidSpan
) -> None:
    # The rule and its index against brute force (tests the new module, not a bug).
    expected = {o.key for o in others if _numbers(o) & _numbers(span)}
    assert {o.key for o in others if overlap(span, o)} == expected
    assert {o.key for o in DidIndex(others).overlapping(span)} == expected


WIDE = ["0.0.0.0/1", "10.0.0.0/7", "::/1", "2001::/31", "::ffff:0:0/96", "::/80",
        "::ffff:10.0.0.0/103", "::/0", "0.0.0.0/0"]  # fmt: skip
NARROW = ["10.0.0.0/8", "192.0.2.0/24", "2001:db8::/32", "::ffff:10.0.0.0/104", "::/96"]


@pytest.mark.parametrize("cidr", WIDE)
def test_f18_one_rule_refuses_every_too_wide_trusted_network(cidr: str) -> None:
    with pytest.raises(ValidationError) as error:
        validators.validate_cidr(cidr)
    assert error.value.code == "cidr_wide"


@pytest.mark.parametrize("cidr", NARROW)
def test_f18_networks_within_the_rule_are_accepted(cidr: str) -> None:
    # A guard (passed before the fix too): the rule's edge, on the accepted side.
    validators.validate_cidr(cidr)


# --- the property: no accepted value holds a character outside its field's grammar ---------------

ASCII_VISIBLE = "".join(chr(c) for c in range(0x21, 0x7F))
HOSTILE = "\r\n\x00\t %\"\\'<>;:@[]#é٣\u2028\u0085\x7f\x1b"

# validator -> (values it accepts, to be mutated; the grammar every accepted value keeps)
GRAMMARS: dict[str, tuple[list[str], str]] = {
    "validate_digits": (["33123456789", "1"], r"[0-9]{1,20}"),
    "validate_prefix": (["", "336"], r"[0-9]{0,20}"),
    "validate_e164": (["12025550123", "1", "999999999999999"], r"[1-9][0-9]{0,14}"),
    "validate_dial_prefix": (["+1234#", "*31#"], r"\+?[0-9*#]{0,20}"),
    "validate_cidr": (
        ["192.0.2.0/24", "192.0.2.7", "2001:db8::/32", "fe80::/64", "::ffff:10.0.0.0/104"],
        r" *[0-9A-Fa-f:./]+ *",
    ),
    "validate_ip": (["192.0.2.1", "2001:db8::1", "fe80::1", "::ffff:1.2.3.4"], r"[0-9A-Fa-f:.]+"),
    "validate_host": (
        ["sip.carrier.example", "192.0.2.10", "fe80::10", "gw1", "a.b."],
        r"[A-Za-z0-9.:-]+",
    ),
    "validate_fqdn": (["voice.acme.example", "192.0.2.5", "2001:db8::5"], r"[A-Za-z0-9.:-]+"),
    "validate_advertised_address": (
        ["edge.example", "198.51.100.1", "2001:db8::1"],
        r"[A-Za-z0-9.:-]+",
    ),
    "validate_socket": (
        ["udp:192.0.2.1:5060", "tls:[2001:db8::1]:5061", "tcp:sbc.example:5060"],
        r"(udp|tcp|tls|sctp):[A-Za-z0-9.:\[\]-]+:[0-9]+",
    ),
    "validate_sip_uri": (
        ["sip:alice@example.com:5060;transport=tcp", "sips:+33123@[2001:db8::1]", "sip:1.2.3.4"],
        r"[A-Za-z0-9\-_.!~*'()&=+$,;?/%@:\[\]]+",
    ),
    "validate_regex": ([r"^0(\d{9})$", r"(33|0)(\d+)", r"\d+"], r"[^\x00-\x1f\x7f]*"),
    "validate_timezone": (
        ["Europe/Paris", "UTC", "America/Argentina/Buenos_Aires"],
        r"[A-Za-z0-9_+/-]+",
    ),
    "validate_weekdays": (["12345", "76"], r"[1-7]{1,7}"),
    "validate_currency": (["EUR", "USD"], r"[A-Z]{3}"),
    # The floor under any free text (API fields, CSV cells): tabs and line breaks only.
    "validate_no_control_characters": (
        ["Acme Corp", "two\tcolumns", "line one\r\nline two"],
        r"[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*",
    ),
    # Quotes and backslashes are fine: every display goes out as a quoted-string (item 3).
    "validate_display_name": (["Acme Corp", "Zoë O'Neil", 'Smith, "J"'], r"[^\x00-\x1f\x7f]*"),
    "validate_header_lines": (["X-Account: acme\nX-Tier: gold", "X-A: 1"], r"(?s).*"),
    "validate_sip_codes": (["408,480,503", "486"], r"[0-9, ]+"),
    "validate_reason_phrase": (
        ["Destination blocked", "Numéro bloqué (fraude)", "Premium-Rate (0899) Blocked!"],
        r"[^\x00-\x1f\x7f-\x9f\u2028\u2029]{1,64}",
    ),
    "validate_reply_codes": (["200,404", "200"], r"[0-9, ]+"),
    "validate_api_urls": (
        ["http://127.0.0.1:8000/kamailio/rtjson\nhttps://c4.example/k", "http://[::1]/k"],
        r"(?s).*",
    ),
    "validate_api_url": (
        ["http://127.0.0.1:8000/kamailio/rtjson", "https://u@[2001:db8::1]:8443/k?x=1#f"],
        r"(?i:https?)://[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+",
    ),
    "validate_instance_name": (["edge1", "edge_1-b"], r"[A-Za-z0-9][A-Za-z0-9_-]{0,49}"),
    "validate_token": (
        ["0123456789abcdef", "tok-0123456789_ABCDEF~!"],
        r"[\x21\x23-\x5b\x5d-\x7e]{16,100}",
    ),
    # Two arguments: the replacement, with the pattern r"^0(\d+)$".
    "validate_replacement": (
        [r"33\1", r"+\g<1>", r"0\1#"],
        r"(?:\\[0-9]{1,2}|\\g<[0-9]+>|\\g<[A-Za-z_][A-Za-z0-9_]*>|[0-9*#+])*",
    ),
}
NO_LINE_BREAK = re.compile(r"[\r\n\x00]")
# Validators of multi-line fields: line breaks separate their parts, which keep the rule.
MULTILINE = ("validate_header_lines", "validate_api_urls", "validate_no_control_characters")
HEADER_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")
HEADER_VALUE = re.compile(r"[^\x00-\x1f\x7f]+")


def _parts(name: str, value: str) -> list[str]:
    """What a multi-line field carries once parsed: each part must keep the grammar."""
    if name == "validate_header_lines":
        parts = []
        for header, content in validators.parse_header_lines(value):
            assert HEADER_NAME.fullmatch(header), header
            assert HEADER_VALUE.fullmatch(content), content
            parts += [header, content]
        return parts
    if name == "validate_no_control_characters":
        assert re.fullmatch(GRAMMARS[name][1], value), value
        return value.splitlines()
    if name == "validate_api_urls":
        urls = validators.parse_api_urls(value)
        for url in urls:
            assert re.fullmatch(GRAMMARS["validate_api_url"][1], url), url
        return urls
    return [value]


@st.composite
def _mutated(draw: st.DrawFn, seeds: list[str]) -> str:
    """A value a validator accepts, then a few characters inserted, replaced or appended:
    the seeds' own characters (the result is often still valid: the boundary is what is
    tested), hostile ones (CR, LF, NUL, '%', quotes, non-ASCII digits...) or any at all."""
    value = draw(st.sampled_from(seeds))
    own = sorted(set("".join(seeds)))
    chars = st.one_of(
        st.sampled_from(own), st.sampled_from(own), st.sampled_from(HOSTILE), st.characters()
    )
    for _ in range(draw(st.sampled_from([0, 1, 1, 2, 3]))):
        at = draw(st.integers(0, len(value)))
        kind = draw(st.sampled_from(["insert", "replace", "delete", "scope", "append"]))
        if kind == "append":  # a trailing line break slips past a regex ending in '$'
            value = value + draw(st.sampled_from(HOSTILE))
        elif kind == "scope":
            value = value + "%" + draw(st.text(chars, max_size=8))
        elif kind == "delete":
            value = value[:at] + value[at + 1 :]
        elif kind == "replace" and at < len(value):
            value = value[:at] + draw(chars) + value[at + 1 :]
        else:
            value = value[:at] + draw(chars) + value[at:]
    return value


def _values(seeds: list[str]) -> st.SearchStrategy[str]:
    # A valid value and one line break after it: what a regex ending in '$' lets through.
    trailing = st.tuples(st.sampled_from(seeds), st.sampled_from(["\n", "\r\n", "\x00"]))
    return st.one_of(
        _mutated(seeds), _mutated(seeds), _mutated(seeds), trailing.map("".join),
        st.text(max_size=30),
    )  # fmt: skip


def _accepts(name: str, value: str) -> bool:
    validator = getattr(validators, name)
    try:
        if name == "validate_replacement":
            validator(r"^0(\d+)$", value)
        else:
            validator(value)
    except ValidationError:
        return False
    return True


def test_f01_the_property_covers_every_validator() -> None:
    public = {
        name
        for name, function in inspect.getmembers(validators, inspect.isfunction)
        if name.startswith("validate_") and function.__module__ == validators.__name__
    }
    assert public == set(GRAMMARS)


@pytest.mark.filterwarnings("ignore::FutureWarning")  # re warns about some random patterns
@pytest.mark.parametrize("name", sorted(GRAMMARS))
@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_f01_no_accepted_value_holds_a_character_outside_its_grammar(
    name: str, data: st.DataObject
) -> None:
    seeds, grammar = GRAMMARS[name]
    value = data.draw(_values(seeds), label="value")
    if not _accepts(name, value):
        return
    event("accepted")  # --hypothesis-show-statistics: most are, else this proves nothing
    if name not in MULTILINE:
        assert not NO_LINE_BREAK.search(value), value
        assert re.fullmatch(grammar, value), value
    for part in _parts(name, value):
        assert not NO_LINE_BREAK.search(part), part


def _validated_fields() -> list[tuple[str, models.Field]]:  # type: ignore[type-arg]
    """Every model field one of routing.validators' functions validates."""
    found = []
    for model in apps.get_app_config("routing").get_models():
        if model.__name__.startswith("Historical"):
            continue
        for field in model._meta.fields:
            names = [
                v.__name__
                for v in field.validators
                if getattr(v, "__module__", "") == validators.__name__
            ]
            if names:
                found.append((f"{model.__name__}.{field.name}", field))
    return found


FIELDS = _validated_fields()


def test_f01_the_property_covers_every_model_field_the_validators_check() -> None:
    # The fields the issue names are among them; any new one joins the property below.
    names = {label for label, _ in FIELDS}
    assert {
        "Gateway.host", "Gateway.socket", "Pbx.host", "Carrier.from_domain", "Domain.name",
        "IpSource.cidr", "RouterInstance.listen_ip", "RouterInstance.advertised_address",
        "RouterInstance.name", "RouterInstance.token", "RouterInstance.api_urls",
    } <= names  # fmt: skip


@pytest.mark.filterwarnings("ignore::FutureWarning")
@pytest.mark.parametrize(("label", "field"), FIELDS, ids=[label for label, _ in FIELDS])
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_f01_no_value_a_model_field_accepts_holds_a_character_outside_its_grammar(
    label: str,
    field: models.Field,  # type: ignore[type-arg]
    data: st.DataObject,
) -> None:
    names = [
        v.__name__ for v in field.validators if getattr(v, "__module__", "") == validators.__name__
    ]
    seeds = [seed for name in names for seed in GRAMMARS[name][0]]
    value = data.draw(_values(seeds), label="value")
    try:
        field.clean(value, None)  # the blank check, then every validator of the field
    except ValidationError:
        return
    event("accepted")
    if value == "":
        return  # a blank=True field left empty: nothing to write
    for name in names:
        if name not in MULTILINE:
            assert not NO_LINE_BREAK.search(value), value
            assert re.fullmatch(GRAMMARS[name][1], value), value
        for part in _parts(name, value):
            assert not NO_LINE_BREAK.search(part), part
