"""Parsing Kamailio's query: its quirks accepted, malformed and hostile bodies refused."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest

from routing.engine.query import ANONYMOUS, QueryError, parse_query, split_uri

from .builders import query_bytes

CONTRACT = Path("/work/shared/contract")
SEED_QUERY = (Path(__file__).parent.parent / "data" / "seed-example-query.json").read_bytes()


def test_the_seed_example_query_parses():
    query = parse_query(SEED_QUERY)
    assert str(query.source_ip) == "198.51.100.10"
    assert query.source_port == 5060
    assert query.call_id == "a84b4c76e66710@pc33.domain.com"
    assert (query.caller.display, query.caller.user, query.caller.host) == (
        "Caller",
        "caller",
        "domain.com",
    )
    assert (query.callee.display, query.callee.user, query.callee.host) == (
        "Callee",
        "callee",
        "domain.com",
    )


def test_kamailio_null_string_and_numbers_as_strings_are_accepted():
    query = parse_query(
        query_bytes(
            source_port="5062", auth="0", to_tag="<null>", from_name="<null>", call_id="<null>"
        )
    )
    assert query.source_port == 5062
    assert query.caller.display == ""
    assert query.call_id == ""


def test_null_from_uri_is_an_anonymous_caller():
    assert parse_query(query_bytes(from_uri="<null>")).caller == ANONYMOUS


def test_unknown_fields_are_ignored():
    assert parse_query(query_bytes(x_new_field={"a": 1})).callee.user == "0612345678"


def test_uri_forms():
    assert split_uri("sip:+3312@[2001:db8::1]:5060;user=phone") == ("+3312", "[2001:db8::1]")
    assert split_uri("<sips:alice:secret@Example.COM>") == ("alice", "example.com")
    assert split_uri("tel:+33123;phone-context=x") == ("+33123", "")
    assert split_uri("sip:example.com") == ("", "example.com")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"not json", "body"),
        (b"[1, 2]", "body"),
        (b'{"source_ip": "10.0.0.1"}', "to_uri"),
        (query_bytes(source_ip=None), "source_ip"),
        (query_bytes(source_ip="<null>"), "source_ip"),
        (query_bytes(source_ip="999.1.1.1"), "source_ip"),
        (query_bytes(source_ip=42), "source_ip"),
        (query_bytes(source_port="http"), "source_port"),
        (query_bytes(source_port=70000), "source_port"),
        (query_bytes(source_port=True), "source_port"),
        (query_bytes(source_port=1.5), "source_port"),
        (query_bytes(auth="yes"), "auth"),
        (query_bytes(to_uri="<null>"), "to_uri"),
        (query_bytes(to_uri="http://example.com"), "to_uri"),
        (query_bytes(to_uri="sip:bob@exa mple.com"), "to_uri"),
        (query_bytes(to_uri="sip:bob\r\nX-Evil: 1@example.com"), "to_uri"),
        (query_bytes(from_uri="sip:a<b>@example.com"), "from_uri"),
        (query_bytes(from_uri="sip:a@x\x00y"), "from_uri"),
        (query_bytes(from_name=["list"]), "from_name"),
        (query_bytes(from_name="x" * 5000), "from_name"),
        (query_bytes(call_id="abc\ndef"), "call_id"),
        (query_bytes(event="sip-register"), "event"),
        (b"{" + b'"a":"' + b"x" * 20000 + b'"}', "body"),
    ],
)
def test_malformed_queries_name_the_problem(body, field):
    with pytest.raises(QueryError) as error:
        parse_query(body)
    assert str(error.value).startswith(f"{field}:")


def test_contract_example_is_the_seed_example():
    # tests/data keeps a copy so the suite runs outside this workplace; it must not drift.
    shared = CONTRACT / "seed-example-query.json"
    if shared.exists():
        assert json.loads(shared.read_bytes()) == orjson.loads(SEED_QUERY)


# --- request_uri: RFC 4694's npdi and rn ------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "npdi", "rn"),
    [
        ("sip:+12025331234@x;user=phone", False, None),  # the usual call
        ("sip:+12025331234;npdi@x;user=phone", True, None),
        ("sip:+12025331234;npdi;rn=+13035440000@x;user=phone", True, "+13035440000"),
        ("sip:+12025331234;rn=+1-303-544-0000;NPDI@x:5060;user=phone", True, "+13035440000"),
        ("tel:+12025331234;npdi;rn=+13035440000", True, "+13035440000"),
        ("sip:12025331234@x;npdi;rn=+13035440000", True, "+13035440000"),  # in the URI params
        ("sip:2025331234;npdi;rn=3035440000;rn-context=+1@x", True, "3035440000"),
        ("<null>", False, None),
    ],
)
def test_the_request_uri_gives_npdi_and_rn(uri, npdi, rn):
    query = parse_query(query_bytes(request_uri=uri))
    assert (query.npdi, query.rn) == (npdi, rn)


def test_a_query_without_request_uri_has_no_npdi():
    query = parse_query(query_bytes())
    assert (query.npdi, query.rn) == (False, None)


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("sip:1;npdi;rn=+1303x@x", "request_uri: rn is not a telephone number"),
        ("sip:1;npdi;rn=@x", "request_uri: rn is not a telephone number"),
        ("sip:1;npdi;rn=+0123@x", "request_uri: rn is not an E.164 number"),
        ("sip:1;npdi;rn=+1234567890123456@x", "request_uri: rn is not a telephone number"),
        ("sip:1;npdi\r\nX-Evil: 1@x", "request_uri: control characters are not allowed"),
        ("http://x/?npdi", "request_uri: not a sip:, sips: or tel: URI"),
        ("x" * 1025 + "npdi", "request_uri: longer than 1024 characters"),
    ],
)
def test_a_bad_request_uri_is_refused_naming_the_field(uri, message):
    with pytest.raises(QueryError, match=message.replace("+", r"\+").replace(".", r"\.")):
        parse_query(query_bytes(request_uri=uri))
