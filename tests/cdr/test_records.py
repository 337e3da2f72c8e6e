"""routing.cdr.records: Kamailio's messages -> record rows, and what is refused."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from routing.cdr.records import RecordError, parse_message

from .samples import CALL, ROUTE_2, answered_attempt, body, call, failed_attempt

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC).timestamp()
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def parse(message: dict) -> dict:
    return parse_message(body(message), NOW)


def test_a_failed_attempt():
    row = parse(failed_attempt(T0))
    assert (row["kind"], row["call_id"], row["attempt"]) == ("attempt", "1-20496@127.0.0.1", 1)
    assert row["start_time"] == datetime.fromtimestamp(T0, UTC)
    assert (row["sip_code"], row["sip_reason"], row["q850_cause"]) == (
        503,
        "Service Unavailable",
        34,
    )
    assert (row["tenant_id"], row["pbx_id"], row["rule_id"]) == (1, 2, 7)
    assert (row["carrier_id"], row["gateway_id"], row["direction"]) == (10, 20, "out")
    assert (row["caller_in"], row["callee_in"]) == ("alice", "33612345678")
    assert (row["caller"], row["callee"]) == ("33100000000", "33612345678")
    assert (row["caller_out"], row["callee_out"]) == ("33100000000", "33612345678")
    assert row["pdd_ms"] is None and row["answer_ms"] is None and row["duration_ms"] is None


def test_an_answered_attempt_has_its_pdd_and_answer_time_from_its_own_invite():
    row = parse(answered_attempt(T0))
    assert (row["attempt"], row["sip_code"], row["carrier_id"], row["gateway_id"]) == (
        2,
        200,
        11,
        21,
    )
    assert row["callee_out"] == "0612345678"
    assert row["pdd_ms"] == 1  # first 18x 0.7 ms after its INVITE was sent
    assert row["answer_ms"] == 154


def test_a_call_has_its_duration_from_the_answer_and_who_hung_up():
    row = parse(call(T0))
    assert (row["kind"], row["attempt"], row["attempts"], row["sip_code"]) == ("call", 0, 2, 200)
    assert row["duration_ms"] == 60507  # answer (t0 + 0.163) to end (t0 + 60.670)
    assert (row["pdd_ms"], row["answer_ms"], row["hangup"]) == (10, 163, "caller")
    assert (row["carrier_id"], row["gateway_id"]) == (11, 21)  # the attempt that answered


def test_an_answered_call_without_bye_ended_by_the_timeout():
    assert parse(call(T0, bye=""))["hangup"] == "timeout"


def test_a_failed_call():
    row = parse(call(T0, code="486", reason="Busy Here", tans="", bye="", attempts="1"))
    assert (row["sip_code"], row["hangup"], row["duration_ms"], row["end_time"]) == (
        486,
        "",
        None,
        None,
    )


def test_a_refused_call_has_no_route():
    message = call(T0, code="404", reason="No Route", tans="", bye="", attempts="",
                   j_route="", t18x="", j_call={"dir": "out", "tenant": 1})  # fmt: skip
    row = parse(message)
    assert (row["sip_code"], row["attempts"], row["carrier_id"], row["tenant_id"]) == (
        404,
        0,
        None,
        1,
    )


def test_strings_lose_control_characters_and_fit_their_column():
    row = parse(failed_attempt(T0, caller_in="evil\r\nX-Injected: 1" + "9" * 100))
    assert "\r" not in row["caller_in"] and "\n" not in row["caller_in"]
    assert len(row["caller_in"]) == 64


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"foo": 1}', "neither an attempt"),
        (body(failed_attempt(T0, sip_code="abc")), "sip_code: not an integer"),
        (body(failed_attempt(T0, sip_code="999")), "sip_code: 999 not in"),
        (body(failed_attempt(T0, t0="")), "t0: required"),
        (body(failed_attempt(T0, t0="yesterday")), "t0: not a Unix time"),
        (body(failed_attempt(T0, callid="")), "callid: required"),
        (body(failed_attempt(T0, j_route="[1]")), "j_route: not a JSON object"),
        (body(failed_attempt(T0, j_call={"tenant": "1; DROP"})), "tenant: not an id"),
        (body(failed_attempt(NOW.timestamp() + 3 * 86400)), "too far from now"),
    ],
)
def test_what_is_not_a_record_is_refused_with_the_reason(message, reason):
    with pytest.raises(RecordError, match=reason):
        parse_message(message, NOW)


@pytest.mark.parametrize(
    ("header", "cause"),
    [
        ('Q.850;cause=16;text="Normal call clearing"', 16),
        ('SIP;cause=503;text="Service Unavailable", Q.850 ; cause = 41', 41),
        ('SIP;cause=503;text="Service Unavailable"', None),
        ("Q.850;cause=999", None),
        ("", None),
    ],
)
def test_the_q850_cause_of_a_reason_header(header, cause):
    assert parse(failed_attempt(T0, reason_hdr=header))["q850_cause"] == cause


LCR_ROUTE = {**ROUTE_2, "rate": "0.0125", "currency": "EUR", "fee": "0.05", "inc": "30/6",
             "sell": "0.02", "sinc": "60/60"}  # fmt: skip


def test_an_answered_least_cost_call_is_priced_from_its_last_route():
    # Answered at t0 + 0.1634, ended at t0 + 60.670: 60.507 s, 61 started seconds.
    row = parse(call(T0, j_route=LCR_ROUTE))
    assert (row["currency"], row["rate"], row["sell_rate"]) == ("EUR", D("0.0125"), D("0.02"))
    # cost: 30/6 bills 66 s: 0.05 + 0.0125 x 66 / 60; revenue: 60/60 bills 120 s, no fee
    assert row["billed_seconds"] == 66
    assert row["cost"] == D("0.063750")
    assert row["revenue"] == D("0.040000")
    assert row["margin"] == D("-0.023750")


def test_an_attempt_keeps_its_rates_but_is_not_priced():
    row = parse(answered_attempt(T0, j_route=LCR_ROUTE))
    assert (row["currency"], row["rate"], row["sell_rate"]) == ("EUR", D("0.0125"), D("0.02"))
    assert row["cost"] is None and row["revenue"] is None and row["billed_seconds"] is None


def test_an_unanswered_call_costs_nothing_and_a_priority_call_has_no_price():
    failed = parse(call(T0, j_route=LCR_ROUTE, tans="", code="503", bye=""))
    assert failed["rate"] == D("0.0125") and failed["cost"] is None
    plain = parse(call(T0))
    assert (plain["currency"], plain["rate"], plain["cost"], plain["margin"]) == (
        "",
        None,
        None,
        None,
    )


def test_without_a_customer_rate_there_is_a_cost_and_no_revenue():
    row = parse(call(T0, j_route={**ROUTE_2, "rate": "0.01", "currency": "USD", "sell": None}))
    assert (row["billed_seconds"], row["cost"]) == (61, D("0.010167"))
    assert row["revenue"] is None and row["margin"] is None


def test_a_ported_call_keeps_the_dialled_number_and_its_lrn():
    row = parse(call(T0, j_call={**CALL, "callee": "12025550123", "lrn": "13125550000"}))
    assert (row["callee"], row["lrn"]) == ("12025550123", "13125550000")
    assert parse(call(T0))["lrn"] == ""


def test_a_computed_rate_with_more_places_or_an_exponent_is_rounded_not_refused():
    # A customer rate a pricing policy computed (cost + 20%) is a Decimal of any shape.
    route = {**LCR_ROUTE, "rate": "0E-7", "fee": "0.0000004", "sell": "0.0150000000000000001"}
    row = parse(call(T0, j_route=route))
    assert (row["rate"], row["sell_rate"]) == (D("0.000000"), D("0.015000"))
    assert row["cost"] == D("0")  # rate 0, fee rounds to 0 at 6 places


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"rate": "0,01"}, "rate: not a rate"),
        ({"rate": "1e99"}, "rate: not a rate"),
        ({"rate": "1000000000000"}, "rate: not a rate"),
        ({"rate": 0.01}, "rate: not a rate"),
        ({"rate": "-1"}, "rate: not a rate"),
        ({"sell": "+1"}, "sell: not a rate"),
        ({"fee": "0.1234567.8"}, "fee: not a rate"),
        ({"inc": "0/6"}, "inc: not initial/next seconds"),
        ({"sinc": "60"}, "sinc: not initial/next seconds"),
        ({"currency": "eur"}, "currency: not an ISO 4217 code"),
    ],
)
def test_bad_rates_are_refused_with_the_field(changes, error):
    with pytest.raises(RecordError, match=error):
        parse(call(T0, j_route={**LCR_ROUTE, **changes}))
