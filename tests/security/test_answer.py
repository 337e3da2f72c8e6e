"""Issue 11, items 1 and 14 on the routing answer: the query's source_ip, IPv6 in
P-Asserted-Identity, and rows written around validation that must never reach an answer.

Each test_fNN_ fails on the code before the fix (see the branch's report).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from random import Random
from typing import Any

import orjson
import pytest

from routing.engine.decide import decide
from routing.engine.query import QueryError, parse_query
from routing.engine.rtjson import answer_bytes, answer_document
from routing.engine.table import CarrierRow
from routing.loader import build_from_database, holder
from routing.models import Carrier, Did, Gateway, IpSource, Pbx, RouteRule, RouteTarget
from tests.engine.builders import route, rule, table, to_gw
from tests.routing.conftest import TOKEN, RoutingData, make_routing_data, saved

FORGED = "fe80::1%x\nWARNING c4router.routing forged line"
SCOPED = "fe80::1%x\r\nX-Injected: yes"
HEADER_LINE = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+: [^\x00-\x1f\x7f]+\r\n")


@pytest.fixture
def routing_data(db: None) -> RoutingData:
    """tests/routing's world: Acme's PBX calls out through Alpha then Beta (the France
    rule), Alpha brings calls in for a DID range of the PBX."""
    return make_routing_data()


def strings(value: Any) -> Iterator[tuple[str, str]]:
    """(key, string) for every string of a JSON document."""
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, str):
                yield key, item
            else:
                yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def assert_safe(document: dict[str, Any]) -> None:
    """What Kamailio writes into SIP as is: no CR, LF or NUL but between whole header lines."""
    for key, text in strings(document):
        if key == "extra":
            assert re.fullmatch(f"(?:{HEADER_LINE.pattern})*", text), text
        else:
            assert not re.search(r"[\r\n\x00]", text), (key, text)
    assert "X-Injected" not in orjson.dumps(document).decode()


# --- item 1: the routing query's source_ip -------------------------------------------------------


@pytest.mark.parametrize("source_ip", [FORGED, SCOPED, "fe80::1%eth0"])
def test_f01_a_scoped_source_ip_is_a_malformed_query(source_ip: str) -> None:
    body = orjson.dumps({"source_ip": source_ip, "to_uri": "sip:33123@x.example"})
    with pytest.raises(QueryError, match=r"^source_ip: not an IP address$"):
        parse_query(body)


@pytest.mark.django_db
def test_f01_a_scoped_source_ip_gets_a_400_and_no_forged_log_line(
    client: Any, routing_data: RoutingData, caplog: pytest.LogCaptureFixture
) -> None:
    previous = holder.table
    holder.refresh(force=True)
    try:
        body = orjson.dumps(
            {"event": "sip-routing", "source_ip": FORGED, "call_id": "c1",
             "from_uri": "sip:alice@x.example", "to_uri": "sip:33612345678@x.example"}
        )  # fmt: skip
        with caplog.at_level(logging.DEBUG, logger="c4router"):
            response = client.post(
                "/kamailio/rtjson", data=body, content_type="application/json",
                HTTP_X_C4_TOKEN=TOKEN,
            )  # fmt: skip
    finally:
        holder.table = previous
    assert response.status_code == 400
    assert response.json() == {"error": "source_ip: not an IP address"}
    for record in caplog.records:
        assert "\n" not in record.getMessage() and "forged" not in record.getMessage()


# --- item 14: P-Asserted-Identity with an IPv6 from_domain ---------------------------------------


def test_f14_p_asserted_identity_brackets_an_ipv6_from_domain() -> None:
    carriers = (CarrierRow(1, "Alpha", from_domain="2001:db8::7", send_pai=True),)
    decision = route(
        table(carriers=carriers, rules=(rule(1, "33", to_gw(1)),)),
        from_uri="sip:0123456789@10.10.0.10",
    )
    first = decision.routes[0]
    assert first.from_uri == "sip:33123456789@[2001:db8::7]"
    assert "P-Asserted-Identity: <sip:+33123456789@[2001:db8::7]>\r\n" in first.extra_headers


def test_f14_p_asserted_identity_keeps_the_callers_ipv6_host_bracketed_once() -> None:
    carriers = (CarrierRow(1, "Alpha", send_pai=True),)
    decision = route(
        table(carriers=carriers, rules=(rule(1, "33", to_gw(1)),)),
        from_uri="sip:0123456789@[2001:db8::9]",
    )
    # (Passed before the fix too: pins that the host, bracketed already, is not bracketed twice.)
    assert "<sip:+33123456789@[2001:db8::9]>" in decision.routes[0].extra_headers


# --- item 1, defense in depth: rows written around validation ------------------------------------


def _outbound() -> bytes:
    return orjson.dumps(
        {"event": "sip-routing", "source_ip": "10.10.0.10", "call_id": "c1",
         "from_name": "Caller", "from_uri": "sip:0123456789@10.10.0.10",
         "to_uri": "sip:0612345678@x.example"}
    )  # fmt: skip


def _inbound() -> bytes:
    return orjson.dumps(
        {"event": "sip-routing", "source_ip": "198.51.100.1", "call_id": "c2",
         "from_uri": "sip:33999@198.51.100.1", "to_uri": "sip:33123456785@x.example"}
    )  # fmt: skip


def _answer(body: bytes) -> dict[str, Any]:
    decision = decide(parse_query(body), build_from_database(), datetime.now(UTC), Random(1))
    document = answer_document(decision)
    orjson.loads(answer_bytes(decision))  # serialisable as Kamailio gets it
    return document


def _first_rule_with_display(data: RoutingData) -> None:
    # A rule more specific than France, for the corrupted rule to be left out of.
    special = saved(RouteRule(name="Mobile", prefix="336", from_display="C4"))
    saved(RouteTarget(rule=special, gateway=data.alpha1, order=0))


# corruption, query, what the answer must still be
CORRUPTIONS: list[tuple[str, Callable[[RoutingData], None], Callable[[], bytes], str]] = [
    (
        "carrier-from-domain",
        lambda d: Carrier.objects.filter(pk=d.alpha.pk).update(from_domain=SCOPED),
        _outbound,
        "sip:33612345678@192.0.2.20:5080",  # Alpha is left out: Beta takes the call
    ),
    (
        "carrier-extra-headers",
        lambda d: Carrier.objects.filter(pk=d.alpha.pk).update(
            extra_headers="X-Trunk: alpha\x07\r\nVia: SIP/2.0/UDP evil"
        ),
        _outbound,
        "sip:33612345678@192.0.2.20:5080",
    ),
    (
        "gateway-host",
        lambda d: Gateway.objects.filter(pk=d.alpha1.pk).update(host=SCOPED),
        _outbound,
        "sip:33612345678@192.0.2.20:5080",
    ),
    (
        "gateway-socket",
        lambda d: Gateway.objects.filter(pk=d.alpha1.pk).update(socket="udp:1.2.3.4:5060\r\nX"),
        _outbound,
        "sip:33612345678@192.0.2.20:5080",
    ),
    (
        "rule-display-name",
        lambda d: (
            _first_rule_with_display(d),
            RouteRule.objects.filter(name="Mobile").update(from_display="C4\r\nX-Injected: yes"),
        ),
        _outbound,
        "sip:33612345678@203.0.113.10:5060",  # the France rule routes instead
    ),
    (
        "rule-extra-headers",
        lambda d: (
            _first_rule_with_display(d),
            RouteRule.objects.filter(name="Mobile").update(extra_headers="X-A: 1\r\nVia: evil"),
        ),
        _outbound,
        "sip:33612345678@203.0.113.10:5060",
    ),
    (
        "rule-reject-reason",
        lambda d: (
            _first_rule_with_display(d),
            RouteRule.objects.filter(name="Mobile").update(
                action="reject", reject_code=403, reject_reason="No\r\nX-Injected: yes"
            ),
        ),
        _outbound,
        "sip:33612345678@203.0.113.10:5060",
    ),
    (
        "pbx-host",
        lambda d: Pbx.objects.filter(pk=d.pbx.pk).update(host=SCOPED),
        _inbound,
        "480",  # the DID's PBX is out of service
    ),
]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("corrupt", "query", "expected"),
    [pytest.param(c, q, e, id=name) for name, c, q, e in CORRUPTIONS],
)
def test_f01_rows_written_around_validation_never_reach_the_answer(
    routing_data: RoutingData,
    caplog: pytest.LogCaptureFixture,
    corrupt: Callable[[RoutingData], None],
    query: Callable[[], bytes],
    expected: str,
) -> None:
    corrupt(routing_data)
    with caplog.at_level(logging.WARNING, logger="c4router.loader"):
        document = _answer(query())
    assert_safe(document)
    answer = document["rtjson"]
    if expected.isdigit():
        assert answer["success"] is False and answer["code"] == int(expected)
    else:
        assert answer["routes"][0]["uri"] == expected
        assert answer["routes"][0]["headers"]["from"]["display"] == '"Caller"'  # quoted (item 3)
    # The operator is told which row, without the value's line breaks.
    warnings = [r.getMessage() for r in caplog.records if "left out" in r.getMessage()]
    assert warnings, caplog.text
    assert all("\n" not in text and "\r" not in text for text in warnings)


@pytest.mark.django_db
def test_f01_a_scoped_network_written_around_validation_is_left_out(
    routing_data: RoutingData,
) -> None:
    source = saved(IpSource(cidr="2001:db8::/64", pbx=routing_data.pbx))
    IpSource.objects.filter(pk=source.pk).update(cidr="2001:db8::%x\r\nforged/64")
    body = orjson.dumps(
        {"event": "sip-routing", "source_ip": "2001:db8::5", "call_id": "c3",
         "from_uri": "sip:0123456789@x.example", "to_uri": "sip:0612345678@x.example"}
    )  # fmt: skip
    document = _answer(body)  # the table builds
    assert document["rtjson"]["code"] == 403  # the network is nobody's until it is fixed
    assert Did.objects.exists()  # the rest of the data is untouched
