"""What an admin types: every validator, and every model clean() rule, with bad input.

The messages are what the admin, the API and the CSV import show, so they are asserted
word for word where they are fixed, and the same bad value must get the same message from
the validator alone as from a model's full_clean().
"""

from __future__ import annotations

import datetime
import inspect
from collections.abc import Callable
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import models

from routing import validators
from routing.models import (
    Carrier,
    Did,
    DidMatch,
    Domain,
    Gateway,
    HealthPolicy,
    IpSource,
    LnpRule,
    NormalizationRule,
    NumberList,
    NumberListEntry,
    Pbx,
    PortedNumber,
    RouterInstance,
    RouteRule,
    RouteTarget,
    Tenant,
)
from routing.models.instances import parse_api_urls, validate_api_urls

# --- The validators alone --------------------------------------------------------------------

BAD: list[tuple[Callable[[str], object], str, str, str]] = [
    # validator, bad value, code, message
    (validators.validate_e164, "012025550123", "e164", "the first not 0"),
    (validators.validate_e164, "1" * 16, "e164", "1 to 15 digits"),
    (validators.validate_e164, "", "e164", "E.164 number"),
    (validators.validate_e164, "+12025550123", "digits", "digits only"),
    (
        validators.validate_digits,
        "+33123",
        "digits",
        "Enter digits only (0-9), without '+', spaces or dashes.",
    ),
    (validators.validate_digits, "33 12", "digits", "Enter digits only"),
    (validators.validate_digits, "", "digits", "Enter digits only"),
    (validators.validate_digits, "٣٣", "digits", "Enter digits only"),  # non-ASCII digits
    (validators.validate_digits, "1" * 21, "digits_length", "At most 20 digits."),
    (validators.validate_prefix, "33a", "digits", "Enter digits only"),
    (validators.validate_prefix, "1" * 21, "digits_length", "At most 20 digits."),
    (
        validators.validate_dial_prefix,
        "12a",
        "dial_prefix",
        "Enter up to 20 characters among 0-9, '*' and '#', optionally starting with '+'.",
    ),
    (validators.validate_dial_prefix, "1+2", "dial_prefix", "Enter up to 20 characters"),
    (validators.validate_dial_prefix, "1" * 21, "dial_prefix", "Enter up to 20 characters"),
    (validators.validate_cidr, "", "cidr", "Enter an IP network such as 192.0.2.0/24."),
    (validators.validate_cidr, "  ", "cidr", "Enter an IP network such as 192.0.2.0/24."),
    (
        validators.validate_cidr,
        "192.0.2.1/24",
        "cidr",
        "'192.0.2.1/24' has host bits set: did you mean 192.0.2.0/24?",
    ),
    (validators.validate_cidr, "192.0.2.0/33", "cidr", "'192.0.2.0/33' is not an IP network"),
    (validators.validate_cidr, "carrier.example", "cidr", "is not an IP network such as"),
    (
        validators.validate_cidr,
        "0.0.0.0/0",
        "cidr_wide",
        "'0.0.0.0/0' would trust too much of the Internet: a trusted network is at most an "
        "IPv4 /8 or an IPv6 /32 (an IPv4-mapped ::ffff: network at most /104); name the "
        "networks you trust.",
    ),
    (validators.validate_cidr, "::/0", "cidr_wide", "would trust too much of the Internet"),
    (validators.validate_ip, "192.0.2.300", "ip", "'192.0.2.300' is not an IPv4 or IPv6 address."),
    (validators.validate_ip, "host.example", "ip", "is not an IPv4 or IPv6 address."),
    (
        validators.validate_host,
        "sip:carrier.example",
        "host",
        "'sip:carrier.example' is not an IP address or host name (no scheme, no port: "
        "e.g. sip.carrier.example or 192.0.2.10).",
    ),
    (validators.validate_host, "192.0.2.10:5060", "host", "is not an IP address or host name"),
    (validators.validate_host, "192.0.2.300", "host", "is not an IP address or host name"),
    (validators.validate_host, "-bad.example", "host", "is not an IP address or host name"),
    (validators.validate_host, "a" * 64 + ".example", "host", "is not an IP address or host"),
    (validators.validate_host, "", "host", "is not an IP address or host name"),
    (
        validators.validate_fqdn,
        "localhost",
        "fqdn",
        "'localhost' is not a fully qualified domain name (e.g. voice.example.com).",
    ),
    (validators.validate_fqdn, "bad_name.example", "host", "is not an IP address or host name"),
    (
        validators.validate_socket,
        "192.0.2.1:5060",
        "socket",
        "'192.0.2.1:5060' is not a Kamailio socket such as udp:192.0.2.1:5060.",
    ),
    (validators.validate_socket, "udp:192.0.2.1:70000", "socket", "is not a Kamailio socket"),
    (validators.validate_socket, "ws:192.0.2.1:80", "socket", "is not a Kamailio socket"),
    (validators.validate_socket, "udp:192.0.2.1", "socket", "is not a Kamailio socket"),
    (
        validators.validate_sip_uri,
        "tel:+33123456789",
        "sip_uri",
        "'tel:+33123456789' is not a SIP URI such as sip:user@host:5060.",
    ),
    (validators.validate_sip_uri, "sip:user@host.example:0", "sip_uri", "is not a SIP URI"),
    (validators.validate_sip_uri, "sip:user@[not-ipv6]", "sip_uri", "is not a SIP URI"),
    (validators.validate_sip_uri, "sip:user@bad_host", "sip_uri", "is not a SIP URI"),
    (validators.validate_sip_uri, "sip:us er@host.example", "sip_uri", "is not a SIP URI"),
    (
        validators.validate_regex,
        "^(33",
        "regex",
        # RE2's words (the engine's compiler): routing/engine/numbers.py
        "The regular expression does not compile: missing ): ^(33.",
    ),
    (validators.validate_regex, "[", "regex", "The regular expression does not compile"),
    (
        validators.validate_timezone,
        "Europe/Lyon",
        "timezone",
        "'Europe/Lyon' is not a known time zone: use an IANA name such as Europe/Paris or UTC.",
    ),
    (validators.validate_timezone, "", "timezone", "is not a known time zone"),
    (
        validators.validate_weekdays,
        "8",
        "weekdays",
        "Enter the days as digits 1-7 (Monday=1 ... Sunday=7), each at most once, "
        "e.g. 12345 for Monday to Friday.",
    ),
    (validators.validate_weekdays, "0", "weekdays", "Enter the days as digits 1-7"),
    (validators.validate_weekdays, "112", "weekdays", "Enter the days as digits 1-7"),
    (validators.validate_weekdays, "", "weekdays", "Enter the days as digits 1-7"),
    (validators.validate_weekdays, "mon", "weekdays", "Enter the days as digits 1-7"),
    (
        validators.validate_display_name,
        "Acme\r\nX-Evil: 1",
        "display_name",
        "A display name may not contain control characters (line breaks, tabs...).",
    ),
    (validators.validate_display_name, "Acme\tHQ", "display_name", "may not contain"),
    (
        validators.validate_no_control_characters,
        "note\x00",
        "control_character",
        "Contains the control character U+0000: remove it",
    ),
    (validators.validate_no_control_characters, "a\x1bb", "control_character", "U+001B"),
    (
        validators.validate_header_lines,
        "X-Account acme",
        "header",
        "Line 1: 'X-Account acme' is not a header line such as 'X-Customer: 42'.",
    ),
    (
        validators.validate_header_lines,
        "X-Ok: 1\n\nX-Empty:",
        "header",
        "Line 3: 'X-Empty:' is not a header line such as 'X-Customer: 42'.",
    ),
    (validators.validate_header_lines, "X Bad: 1", "header", "Line 1: 'X Bad: 1' is not"),
    (
        validators.validate_header_lines,
        "X-Ok: a\x07b",
        "header",
        "Line 1: control characters are not allowed in a header value.",
    ),
    (
        validators.validate_header_lines,
        "From: <sip:evil@example.com>",
        "header_reserved",
        "Line 1: From is managed by the SIP router and cannot be set here.",
    ),
    (
        validators.validate_header_lines,
        "X-Ok: 1\nv: SIP/2.0/UDP x",
        "header_reserved",
        "Line 2: v is managed by the SIP router and cannot be set here.",
    ),
    (
        validators.validate_reason_phrase,
        "Busy\r\nX-Evil: 1",
        "reason_phrase",
        "Enter a SIP reason phrase: 1 to 64 printable characters, words separated by single "
        "spaces, no control characters (e.g. Destination blocked).",
    ),
    (validators.validate_reason_phrase, "", "reason_phrase", "Enter a SIP reason phrase"),
    (validators.validate_reason_phrase, "Two  spaces", "reason_phrase", "Enter a SIP reason"),
    (validators.validate_reason_phrase, "x" * 65, "reason_phrase", "Enter a SIP reason phrase"),
    (
        validators.validate_sip_codes,
        "408,200",
        "sip_codes",
        "'200' is not a SIP response code between 300 and 699 "
        "(enter codes separated by commas, e.g. 408,500,503).",
    ),
    (validators.validate_sip_codes, "700", "sip_codes", "'700' is not a SIP response code"),
    (validators.validate_sip_codes, "408,,503", "sip_codes", "'' is not a SIP response code"),
    (validators.validate_sip_codes, "5xx", "sip_codes", "'5xx' is not a SIP response code"),
    (
        validators.validate_reply_codes,
        "200,180",
        "reply_codes",
        "'180' is not a final SIP reply code between 200 and 699 "
        "(enter codes separated by commas, e.g. 200,404).",
    ),
    (validators.validate_reply_codes, "", "reply_codes", "'' is not a final SIP reply code"),
    (validators.validate_reply_codes, "700", "reply_codes", "'700' is not a final SIP reply"),
    (
        validate_api_urls,
        "http://127.0.0.1:8000/kamailio/rtjson\nftp://backup.example/",
        "api_url",
        "Line 2: 'ftp://backup.example/' is not an http:// or https:// URL.",
    ),
    (validate_api_urls, "127.0.0.1:8000", "api_url", "Line 1: '127.0.0.1:8000' is not an"),
    (validate_api_urls, "\n  \n", "api_url", "Give at least one API URL."),
    (
        validators.validate_api_url,
        'http://c4.example/k"x',
        "api_url",
        "'http://c4.example/k\"x' is not an http:// or https:// URL.",
    ),
    (
        validators.validate_instance_name,
        "-edge1",
        "instance_name",
        "Use up to 50 letters, digits, '-' and '_', starting with a letter or a digit "
        "(e.g. edge1).",
    ),
    (
        validators.validate_token,
        "0123456789 abcdef",
        "token",
        'Use printable ASCII characters only, without spaces, quotes (") or backslashes.',
    ),
    (validators.validate_token, "short", "token_length", "Use at least 16 characters"),
    (
        validators.validate_advertised_address,
        "edge.example.",
        "advertised_address",
        "'edge.example.': write the host name without its final dot.",
    ),
    (validators.validate_advertised_address, "fe80::1%eth0", "host", "is not an IP address"),
    (
        validators.validate_reason_phrase,
        "Blocked\r\nX-Evil: 1",
        "reason_phrase",
        "Enter a SIP reason phrase",
    ),
    (validators.validate_reason_phrase, " Blocked", "reason_phrase", "single spaces"),
    (validators.validate_reason_phrase, "Blocked\u2028", "reason_phrase", "Enter a SIP reason"),
    (
        validators.validate_currency,
        "eur",
        "currency",
        "Enter an ISO 4217 currency code: three capital letters, e.g. EUR or USD.",
    ),
    (validators.validate_currency, "EURO", "currency", "ISO 4217"),
    (validators.validate_currency, "", "currency", "ISO 4217"),
]

GOOD: list[tuple[Callable[[str], object], str]] = [
    (validators.validate_currency, "EUR"),
    (validators.validate_digits, "33123456789"),
    (validators.validate_digits, "1" * 20),
    (validators.validate_prefix, ""),
    (validators.validate_prefix, "336"),
    (validators.validate_dial_prefix, ""),
    (validators.validate_dial_prefix, "+"),
    (validators.validate_dial_prefix, "1234#"),
    (validators.validate_dial_prefix, "*31#"),
    (validators.validate_cidr, "192.0.2.0/24"),
    (validators.validate_cidr, "192.0.2.7"),
    (validators.validate_cidr, "2001:db8::/32"),
    (validators.validate_ip, "2001:db8::1"),
    (validators.validate_host, "192.0.2.10"),
    (validators.validate_host, "2001:db8::10"),
    (validators.validate_host, "sip.carrier.example"),
    (validators.validate_host, "gw1"),
    (validators.validate_host, "sip.carrier.example."),
    (validators.validate_fqdn, "voice.globex.example"),
    (validators.validate_fqdn, "192.0.2.5"),
    (validators.validate_socket, "udp:192.0.2.1:5060"),
    (validators.validate_socket, "tls:[2001:db8::1]:5061"),
    (validators.validate_socket, "tcp:sbc.example:5060"),
    (validators.validate_sip_uri, "sip:callee@domain.com"),
    (validators.validate_sip_uri, "sips:+33123456789@[2001:db8::1]:5061;transport=tls"),
    (validators.validate_sip_uri, "sip:192.0.2.1"),
    (validators.validate_regex, r"^33(\d{9})$"),
    (validators.validate_timezone, "America/New_York"),
    (validators.validate_timezone, "UTC"),
    (validators.validate_weekdays, "12345"),
    (validators.validate_weekdays, "76"),
    (validators.validate_display_name, "Acme Corp"),
    (validators.validate_no_control_characters, "two lines\r\nand\ta tab"),
    (validators.validate_display_name, "Zoë O'Neil"),
    # Written as a quoted-string with quoted-pairs (routing.engine.rtjson.quote_display).
    (validators.validate_display_name, 'Acme "HQ"'),
    (validators.validate_display_name, "Acme\\HQ"),
    (validators.validate_display_name, "Smith, John <sip:x@example.com>;tag=1"),
    (validators.validate_header_lines, ""),
    (validators.validate_header_lines, "X-Account: acme\n\nX-Tier: gold"),
    (validators.validate_sip_codes, "408, 480,503"),
    (validators.validate_reply_codes, "200"),
    (validators.validate_reply_codes, "200, 404,405,699"),
    (validators.validate_reason_phrase, "Temporarily Unavailable"),
    (validators.validate_reason_phrase, "Premium-Rate (0899) Blocked!"),
    (validate_api_urls, "http://127.0.0.1:8000/kamailio/rtjson\nhttps://c4.example/k"),
    (validators.validate_api_url, "http://[2001:db8::5]:8000/kamailio/rtjson"),
    (validators.validate_api_url, "http://c4router:8000/kamailio/rtjson"),
    (validators.validate_instance_name, "edge_1-b"),
    (validators.validate_advertised_address, "edge.example"),
    (validators.validate_advertised_address, "2001:db8::10"),
    (validators.validate_token, "0123456789abcdef!#$%&'()*+,-./:;<=>?@[]^_`{|}~"),
    (validators.validate_reason_phrase, "Destination blocked"),
    (validators.validate_reason_phrase, "Numéro bloqué (fraude)"),
    # RFC 3261 allows UTF-8 in a Reason-Phrase.
    (validators.validate_reason_phrase, "Décliné"),
    (validators.validate_e164, "12025550123"),
    (validators.validate_e164, "1"),
    (validators.validate_e164, "9" * 15),
]


@pytest.mark.parametrize(
    ("validator", "value", "code", "message"),
    [pytest.param(*case, id=f"{case[0].__name__}-{case[1]!r}") for case in BAD],
)
def test_validator_refuses_bad_input(
    validator: Callable[[str], object], value: str, code: str, message: str
) -> None:
    with pytest.raises(ValidationError) as error:
        validator(value)
    assert error.value.code == code
    (text,) = error.value.messages
    assert message in text


@pytest.mark.parametrize(
    ("validator", "value"),
    [pytest.param(*case, id=f"{case[0].__name__}-{case[1]!r}") for case in GOOD],
)
def test_validator_accepts_good_input(validator: Callable[[str], object], value: str) -> None:
    validator(value)


def test_every_validator_is_tested() -> None:
    public = {
        name
        for name, function in inspect.getmembers(validators, inspect.isfunction)
        if name.startswith("validate_") and function.__module__ == validators.__name__
    }
    public.add("validate_api_urls")
    bad = {case[0].__name__ for case in BAD}
    good = {case[0].__name__ for case in GOOD}
    # validate_replacement takes two arguments: tested below.
    assert public - {"validate_replacement"} <= bad & good
    assert public - bad - good == {"validate_replacement"}


def test_normalize_cidr_returns_the_canonical_network() -> None:
    assert validators.normalize_cidr(" 192.0.2.7 ") == "192.0.2.7/32"
    assert validators.normalize_cidr("2001:DB8::/32") == "2001:db8::/32"


def test_parsers_return_what_they_validated() -> None:
    assert validators.parse_header_lines("X-Account: acme\n Via-Sub : 1 ") == [
        ("X-Account", "acme"),
        ("Via-Sub", "1"),
    ]
    assert validators.parse_sip_codes("503, 408,503") == [503, 408]
    assert parse_api_urls(" http://a.example/ \n\nhttp://b.example/") == [
        "http://a.example/",
        "http://b.example/",
    ]
    match = validators.parse_sip_uri("sip:alice@domain.com:5070;transport=tcp")
    assert match is not None
    assert (match["user"], match["host"], match["port"]) == ("alice", "domain.com", "5070")


@pytest.mark.parametrize(
    ("pattern", "replacement", "message"),
    [
        (r"^33(\d{9})$", r"0\2", "The replacement is not valid for this pattern: invalid group"),
        (r"^33(\d{9})$", r"0\g<name>", "The replacement is not valid for this pattern"),
        (r"^33(\d{9})$", "0\\", "The replacement is not valid for this pattern"),
        (r"^33(\d{9})$", r"x\1", "The replacement may only add digits, '*', '#' and a leading"),
        (r"^33(\d{9})$", r"0\1+", "The replacement may only add digits"),
    ],
)
def test_validate_replacement_refuses(pattern: str, replacement: str, message: str) -> None:
    with pytest.raises(ValidationError) as error:
        validators.validate_replacement(pattern, replacement)
    assert error.value.code == "replacement"
    assert error.value.messages[0].startswith(message)


@pytest.mark.parametrize(
    ("pattern", "replacement"),
    [(r"^33(\d{9})$", r"0\1"), (r"^(\d+)$", r"+\1"), (r"^0(\d+)$", r"\g<1>#"), ("[", "x")],
)
def test_validate_replacement_accepts(pattern: str, replacement: str) -> None:
    # "[" does not compile: that is the pattern's validator's business, not this one's.
    validators.validate_replacement(pattern, replacement)


# --- The same message through a model ---------------------------------------------------------


def errors_of(obj: models.Model) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as error:
        obj.full_clean()
    return error.value.message_dict


@pytest.fixture
def instances(
    tenant: Tenant, pbx: Pbx, carrier: Carrier, gateway: Gateway, rule: RouteRule
) -> dict[str, Callable[[], models.Model]]:
    """Unsaved valid objects of every model, one factory per model."""
    return {
        "carrier": lambda: Carrier(name="Beta Voice"),
        "gateway": lambda: Gateway(carrier=carrier, name="gw", host="192.0.2.20"),
        "pbx": lambda: Pbx(tenant=tenant, name="branch", host="10.10.1.10"),
        "domain": lambda: Domain(tenant=tenant, name="voice.acme.example", pbx=pbx),
        "did": lambda: Did(tenant=tenant, pbx=pbx, number="33111111111"),
        "range": lambda: Did(
            tenant=tenant,
            pbx=pbx,
            number="33111111110",
            match=DidMatch.RANGE,
            range_end="33111111119",
        ),
        "source": lambda: IpSource(cidr="192.0.2.64/28", carrier=carrier),
        "normalization": lambda: NormalizationRule(carrier=carrier, direction="in", strip=1),
        "rule": lambda: RouteRule(name="UK", prefix="44"),
        "number_list": lambda: NumberList(name="Fraud"),
        "list_entry": lambda: NumberListEntry(
            number_list=NumberList.objects.get_or_create(name="Entries")[0], number="3389"
        ),
        "list_range": lambda: NumberListEntry(
            number_list=NumberList.objects.get_or_create(name="Entries")[0],
            number="3389",
            match="range",
            range_end="3389",
        ),
        "instance": lambda: RouterInstance(
            name="edge2", listen_ip="127.0.0.1", api_urls="http://127.0.0.1:8000/kamailio/rtjson"
        ),
        "policy": lambda: HealthPolicy(name="probe"),
        "lnp_rule": lambda: LnpRule(tenant=tenant, prefix="1"),
        "ported": lambda: PortedNumber(number="12025550123", lrn="13125550000"),
    }


FIELD_CASES: list[tuple[str, str, str, Callable[[str], object]]] = [
    # factory, field, bad value, the validator that owns the message
    ("gateway", "host", "sip:gw.example", validators.validate_host),
    ("gateway", "socket", "192.0.2.1:5060", validators.validate_socket),
    ("gateway", "prefix", "12a", validators.validate_dial_prefix),
    ("carrier", "from_domain", "bad_domain", validators.validate_host),
    ("carrier", "extra_headers", "Via: evil", validators.validate_header_lines),
    ("pbx", "host", "10.10.1.10:5060", validators.validate_host),
    ("domain", "name", "localhost", validators.validate_fqdn),
    ("did", "number", "+33111111111", validators.validate_digits),
    ("range", "range_end", "3311111111x", validators.validate_digits),
    ("source", "cidr", "192.0.2.1/24", validators.validate_cidr),
    ("source", "cidr", "0.0.0.0/0", validators.validate_cidr),
    ("normalization", "match_prefix", "0a", validators.validate_prefix),
    ("normalization", "add_prefix", "33x", validators.validate_dial_prefix),
    ("normalization", "pattern", "^(33", validators.validate_regex),
    ("rule", "prefix", "+44", validators.validate_prefix),
    ("rule", "caller_prefix", "33-1", validators.validate_prefix),
    ("rule", "weekdays", "8", validators.validate_weekdays),
    ("rule", "timezone", "Mars/Olympus", validators.validate_timezone),
    ("rule", "caller_id", "+33123", validators.validate_digits),
    ("rule", "from_display", "Acme\nHQ", validators.validate_display_name),
    ("rule", "extra_headers", "X-Account acme", validators.validate_header_lines),
    ("instance", "listen_ip", "localhost", validators.validate_ip),
    ("instance", "advertised_address", "sip://edge.example", validators.validate_host),
    ("instance", "api_urls", "ftp://edge.example/", validate_api_urls),
    ("instance", "failover_codes", "408,200", validators.validate_sip_codes),
    ("number_list", "reason", "Blocked\nX: 1", validators.validate_reason_phrase),
    ("list_entry", "number", "+3389", validators.validate_digits),
    ("list_range", "range_end", "339x", validators.validate_digits),
    ("policy", "alive_codes", "200,100", validators.validate_reply_codes),
    ("policy", "demote_codes", "200", validators.validate_sip_codes),
    ("lnp_rule", "prefix", "+1", validators.validate_prefix),
    ("ported", "number", "012025550123", validators.validate_e164),
    ("ported", "lrn", "1312555000x", validators.validate_e164),
]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("factory", "field", "value", "validator"),
    [pytest.param(*case, id=f"{case[0]}.{case[1]}={case[2]!r}") for case in FIELD_CASES],
)
def test_full_clean_refuses_with_the_validators_message(
    instances: dict[str, Callable[[], models.Model]],
    factory: str,
    field: str,
    value: str,
    validator: Callable[[str], object],
) -> None:
    with pytest.raises(ValidationError) as direct:
        validator(value)
    obj = instances[factory]()
    setattr(obj, field, value)
    assert errors_of(obj)[field] == direct.value.messages


@pytest.mark.django_db
@pytest.mark.parametrize(
    "factory",
    [
        "carrier",
        "gateway",
        "pbx",
        "domain",
        "did",
        "range",
        "source",
        "normalization",
        "rule",
        "instance",
        "number_list",
        "list_entry",
        "list_range",
        "policy",
        "lnp_rule",
        "ported",
    ],
)
def test_the_unbroken_objects_are_valid(
    instances: dict[str, Callable[[], models.Model]], factory: str
) -> None:
    instances[factory]().full_clean()


RANGE_CASES: list[tuple[str, str, int, str]] = [
    ("gateway", "port", 0, "Ensure this value is greater than or equal to 1."),
    ("gateway", "port", 65536, "Ensure this value is less than or equal to 65535."),
    ("gateway", "weight", 0, "Ensure this value is greater than or equal to 1."),
    ("gateway", "weight", 1001, "Ensure this value is less than or equal to 1000."),
    ("gateway", "strip", 21, "Ensure this value is less than or equal to 20."),
    ("gateway", "fr_timer", 99, "Ensure this value is greater than or equal to 100."),
    ("gateway", "fr_inv_timer", 600_001, "Ensure this value is less than or equal to 600000."),
    ("pbx", "port", 70000, "Ensure this value is less than or equal to 65535."),
    ("normalization", "priority", 1001, "Ensure this value is less than or equal to 1000."),
    ("normalization", "strip", 21, "Ensure this value is less than or equal to 20."),
    ("rule", "priority", 1001, "Ensure this value is less than or equal to 1000."),
    ("instance", "listen_port", 0, "Ensure this value is greater than or equal to 1."),
    ("instance", "api_timeout_ms", 99, "Ensure this value is greater than or equal to 100."),
    ("instance", "http_workers", 65, "Ensure this value is less than or equal to 64."),
    ("instance", "children", 0, "Ensure this value is greater than or equal to 1."),
    ("instance", "fr_timer", 120_001, "Ensure this value is less than or equal to 120000."),
    ("instance", "fr_inv_timer", 999, "Ensure this value is greater than or equal to 1000."),
]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("factory", "field", "value", "message"),
    [pytest.param(*case, id=f"{case[0]}.{case[1]}={case[2]}") for case in RANGE_CASES],
)
def test_full_clean_refuses_numbers_out_of_range(
    instances: dict[str, Callable[[], models.Model]],
    factory: str,
    field: str,
    value: int,
    message: str,
) -> None:
    obj = instances[factory]()
    setattr(obj, field, value)
    assert errors_of(obj)[field] == [message]


@pytest.mark.django_db
def test_route_target_ranges(rule: RouteRule, carrier: Carrier) -> None:
    errors = errors_of(RouteTarget(rule=rule, carrier=carrier, order=100, weight=0))
    assert errors["order"] == ["Ensure this value is less than or equal to 99."]
    assert errors["weight"] == ["Ensure this value is greater than or equal to 1."]


# --- The clean() rules, model by model ---------------------------------------------------------


@pytest.mark.django_db
def test_did_pbx_must_belong_to_the_tenant(tenant: Tenant, other_pbx: Pbx) -> None:
    errors = errors_of(Did(tenant=tenant, pbx=other_pbx, number="33111111111"))
    assert errors == {"pbx": ["This PBX belongs to another tenant."]}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("match", "range_end", "message"),
    [
        (DidMatch.RANGE, "", "A range needs its last number."),
        (DidMatch.RANGE, "331111111199", "The last number must have as many digits as the first."),
        (DidMatch.RANGE, "33111111110", "The last number is below the first."),
        (DidMatch.EXACT, "33111111119", "Only a range has a last number."),
        (DidMatch.PREFIX, "33111111119", "Only a range has a last number."),
    ],
)
def test_did_range_rules(
    tenant: Tenant, pbx: Pbx, match: str, range_end: str, message: str
) -> None:
    did = Did(tenant=tenant, pbx=pbx, number="33111111111", match=match, range_end=range_end)
    assert errors_of(did) == {"range_end": [message]}


@pytest.mark.django_db
def test_did_ranges_may_not_overlap(tenant: Tenant, pbx: Pbx) -> None:
    existing = Did.objects.create(
        tenant=tenant, pbx=pbx, number="33123456780", match=DidMatch.RANGE, range_end="33123456789"
    )
    overlapping = Did(
        tenant=tenant, pbx=pbx, number="33123456785", match=DidMatch.RANGE, range_end="33123456799"
    )
    assert errors_of(overlapping) == {
        "range_end": ["This range overlaps the range 33123456780-33123456789."]
    }
    # Adjacent is fine, and a range does not overlap itself when edited.
    Did(
        tenant=tenant, pbx=pbx, number="33123456790", match=DidMatch.RANGE, range_end="33123456799"
    ).full_clean()
    existing.range_end = "33123456788"
    existing.full_clean()


@pytest.mark.django_db
def test_did_same_number_and_match_is_refused_by_full_clean(tenant: Tenant, pbx: Pbx) -> None:
    Did.objects.create(tenant=tenant, pbx=pbx, number="33111111111")
    errors = errors_of(Did(tenant=tenant, pbx=pbx, number="33111111111"))
    assert errors == {"__all__": ["DID with this Number and Match already exists."]}


@pytest.mark.django_db
def test_domain_name_is_normalized_and_its_pbx_checked(tenant: Tenant, other_pbx: Pbx) -> None:
    domain = Domain(tenant=tenant, name="Voice.ACME.example.")
    domain.full_clean()
    assert domain.name == "voice.acme.example"
    domain.pbx = other_pbx
    assert errors_of(domain) == {"pbx": ["This PBX belongs to another tenant."]}


@pytest.mark.django_db
def test_ip_source_is_normalized(carrier: Carrier) -> None:
    source = IpSource(cidr=" 192.0.2.7", carrier=carrier)
    source.full_clean()
    assert source.cidr == "192.0.2.7/32"


@pytest.mark.django_db
def test_ip_source_normalized_duplicate_is_refused(carrier: Carrier) -> None:
    IpSource.objects.create(cidr="192.0.2.7/32", carrier=carrier)
    errors = errors_of(IpSource(cidr="192.0.2.7", carrier=carrier))
    assert errors == {
        "cidr": [
            f"The network 192.0.2.7/32 is already an IP source of carrier {carrier}: a "
            "network belongs to one carrier or one PBX."
        ]
    }


@pytest.mark.django_db
def test_a_duplicate_network_names_the_pbx_that_owns_it(carrier: Carrier, pbx: Pbx) -> None:
    IpSource.objects.create(cidr="192.0.2.8/32", pbx=pbx)
    errors = errors_of(IpSource(cidr="192.0.2.8/32", carrier=carrier))
    assert errors["cidr"][0].startswith(
        f"The network 192.0.2.8/32 is already an IP source of PBX {pbx.name} (tenant {pbx.tenant})"
    )


@pytest.mark.django_db
@pytest.mark.parametrize("owners", ["none", "both"])
def test_ip_source_needs_exactly_one_owner(carrier: Carrier, pbx: Pbx, owners: str) -> None:
    source = IpSource(cidr="192.0.2.0/28")
    if owners == "both":
        source.carrier, source.pbx = carrier, pbx
    assert errors_of(source) == {"__all__": ["Choose exactly one owner: a carrier or a PBX."]}


@pytest.mark.django_db
@pytest.mark.parametrize("owners", ["none", "both"])
def test_normalization_needs_exactly_one_owner(carrier: Carrier, pbx: Pbx, owners: str) -> None:
    rule = NormalizationRule(direction="in", strip=1)
    if owners == "both":
        rule.carrier, rule.pbx = carrier, pbx
    assert errors_of(rule) == {"__all__": ["Choose exactly one owner: a carrier or a PBX."]}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"kind": "regex", "pattern": ""}, "pattern", "A regex rule needs a pattern."),
        (
            {"kind": "regex", "pattern": r"^33(\d{9})$", "replacement": r"0\2"},
            "replacement",
            "The replacement is not valid for this pattern: invalid group reference 2 at "
            "position 2.",
        ),
        (
            {"kind": "regex", "pattern": r"^33(\d{9})$", "replacement": r"zero\1"},
            "replacement",
            "The replacement may only add digits, '*', '#' and a leading '+' around group "
            "references such as \\1.",
        ),
        (
            {"kind": "prefix", "strip": 0, "add_prefix": ""},
            "add_prefix",
            "Strip some digits or add a prefix: this rule changes nothing.",
        ),
        (
            {"example_input": "0123456789"},
            "example_output",
            "Give both the example number and the expected result.",
        ),
        (
            {"example_output": "33123456789"},
            "example_output",
            "Give both the example number and the expected result.",
        ),
        (
            {
                "match_prefix": "0",
                "add_prefix": "33",
                "example_input": "0123456789",
                "example_output": "0033123456789",
            },
            "example_output",
            "The rule turns '0123456789' into '33123456789', not '0033123456789'.",
        ),
        (
            {
                "match_prefix": "0",
                "add_prefix": "33",
                "example_input": "123456789",
                "example_output": "33123456789",
            },
            "example_output",
            "The rule turns '123456789' into no match, not '33123456789'.",
        ),
        (
            {
                "kind": "regex",
                "strip": 0,
                "pattern": r"^33(\d{9})$",
                "replacement": r"0\1",
                "example_input": "33123",
                "example_output": "0123",
            },
            "example_output",
            "The rule turns '33123' into no match, not '0123'.",
        ),
    ],
)
def test_normalization_rule_clean(
    carrier: Carrier, values: dict[str, Any], field: str, message: str
) -> None:
    rule = NormalizationRule(carrier=carrier, direction="in", strip=1)
    for name, value in values.items():
        setattr(rule, name, value)
    assert errors_of(rule) == {field: [message]}


@pytest.mark.django_db
def test_normalization_example_that_holds_is_accepted(carrier: Carrier) -> None:
    NormalizationRule(
        carrier=carrier,
        direction="out",
        kind="regex",
        strip=0,
        pattern=r"^33(\d{9})$",
        replacement=r"0\1",
        example_input="33123456789",
        example_output="0123456789",
    ).full_clean()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("start", "end", "field", "message"),
    [
        (
            datetime.time(9),
            None,
            "end_time",
            "Give both the start and the end of the time window, or neither.",
        ),
        (
            None,
            datetime.time(18),
            "start_time",
            "Give both the start and the end of the time window, or neither.",
        ),
        (
            datetime.time(9),
            datetime.time(9),
            "end_time",
            "The window ends when it starts: it would never open.",
        ),
    ],
)
def test_route_rule_window(
    start: datetime.time | None, end: datetime.time | None, field: str, message: str
) -> None:
    rule = RouteRule(prefix="1", start_time=start, end_time=end)
    assert errors_of(rule) == {field: [message]}


@pytest.mark.django_db
def test_route_rule_window_across_midnight_is_fine() -> None:
    RouteRule(prefix="1", start_time=datetime.time(22), end_time=datetime.time(6)).full_clean()


@pytest.mark.django_db
@pytest.mark.parametrize("destinations", ["none", "both"])
def test_route_target_needs_exactly_one_destination(
    rule: RouteRule, carrier: Carrier, gateway: Gateway, destinations: str
) -> None:
    target = RouteTarget(rule=rule)
    if destinations == "both":
        target.carrier, target.gateway = carrier, gateway
    assert errors_of(target) == {
        "__all__": ["Choose exactly one destination: a carrier or a gateway."]
    }


@pytest.mark.django_db
def test_router_instance_token_length() -> None:
    instance = RouterInstance(
        name="edge2", listen_ip="127.0.0.1", api_urls="http://127.0.0.1/", token="short"
    )
    assert errors_of(instance) == {"token": ["Use at least 16 characters for the token."]}


@pytest.mark.django_db
def test_router_instance_gets_a_random_token() -> None:
    first = RouterInstance(name="a", listen_ip="127.0.0.1", api_urls="http://127.0.0.1/")
    second = RouterInstance(name="b", listen_ip="127.0.0.1", api_urls="http://127.0.0.1/")
    first.full_clean()
    assert len(first.token) >= 32
    assert first.token != second.token
