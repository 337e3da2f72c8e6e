"""Call records end to end: SIPp calls through a real Kamailio (config rendered by
`render_kamailio_config` with C4ROUTER_CDR_ENABLED) and the real c4router, Kamailio's acc
and dialog publish the records to the real RabbitMQ, `manage.py ingest_cdrs`'s ingester
stores them in the test's PostgreSQL: what an operator then finds in the records.

The routing data is test_kamailio_c4router's (Acme's PBX calls from 127.0.0.1, the France
rule sends calls to Alpha's gateway, then Beta's). Each test has a RabbitMQ queue of its
own, deleted afterwards.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal as D

import harness as h
import pika
import pytest
from django.conf import settings
from django.utils import timezone
from test_kamailio_c4router import (  # the same world and helpers
    FRANCE,
    NATIONAL,
    PRESENTED,
    World,
    call,
    carrier,
    make_world,
    saved,
    show,
    start_edge,  # noqa: F401 - a fixture
    wait_for_answer,
)

from routing.cdr import ingest, rollups
from routing.models import (
    CallRecord,
    LnpRule,
    PortedNumber,
    Rate,
    RateDeck,
    RouteRule,
    RouteTarget,
    TrafficRollup,
)
from tests.live import C4RouterServer

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def cdr_queue(settings) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """Records on, into a queue of the test's own (declared, as `ingest_cdrs --setup` does
    before Kamailio starts)."""
    queue = f"c4router.e2e.{uuid.uuid4().hex[:10]}"
    settings.C4ROUTER_CDR = {**settings.C4ROUTER_CDR, "ENABLED": True, "QUEUE": queue}
    try:
        connection = pika.BlockingConnection(pika.URLParameters(settings.C4ROUTER_CDR["AMQP_URL"]))
    except pika.exceptions.AMQPError as exc:
        pytest.fail(f"RabbitMQ at C4ROUTER_CDR_AMQP_URL is not reachable: {exc!r}")
    ingest.declare(connection.channel(), queue)
    connection.close()
    yield queue
    connection = pika.BlockingConnection(pika.URLParameters(settings.C4ROUTER_CDR["AMQP_URL"]))
    channel = connection.channel()
    channel.queue_delete(queue)
    channel.queue_delete(ingest.rejected_queue(queue))
    connection.close()


@pytest.fixture
def server(tmp_path) -> Iterator[C4RouterServer]:
    srv = C4RouterServer(tmp_path)
    yield srv
    srv.stop()


@pytest.fixture
def world(server, cdr_queue) -> World:
    data = make_world(f"{server.url}/kamailio/rtjson")
    server.start()
    return data


@pytest.fixture
def edge(world, start_edge) -> h.KamailioProcess:  # noqa: F811 - the fixture
    return start_edge(world.instance)


def waiting(queue: str) -> int:
    connection = pika.BlockingConnection(pika.URLParameters(settings.C4ROUTER_CDR["AMQP_URL"]))
    count = connection.channel().queue_declare(queue, durable=True, passive=True).method
    connection.close()
    return int(count.message_count)


def store_records(queue: str, expected: int, timeout: float = 10.0) -> ingest.Ingester:
    """Once Kamailio has published `expected` records (bounded wait), run the ingester
    until the queue is empty."""
    deadline = time.monotonic() + timeout
    while waiting(queue) < expected and time.monotonic() < deadline:
        time.sleep(0.1)
    ingester = ingest.Ingester(queue=queue, batch=100, max_wait=0.2, log=lambda line: None)
    ingester.run(drain=True, max_seconds=30)
    return ingester


def test_a_call_failing_over_gives_one_call_record_and_two_attempts(
    world, edge, cdr_queue, tmp_path
):
    with (
        carrier("uas_503.xml", world.alpha_port, tmp_path, "alpha") as alpha,
        carrier("uas.xml", world.beta_port, tmp_path, "beta") as beta,
    ):
        started = time.time()
        caller = call(edge, tmp_path)
        ended = time.time()
        seen_alpha, seen_beta = alpha.wait(10), beta.wait(10)
    assert caller.ok, show(caller, seen_alpha, seen_beta, edge.log_tail())
    call_id = caller.received()[0].header("Call-ID")

    ingester = store_records(cdr_queue, 3)
    assert (ingester.counts.stored, ingester.counts.rejected) == (3, 0), edge.log_tail()
    first, second = CallRecord.objects.filter(kind="attempt").order_by("attempt")
    whole = CallRecord.objects.get(kind="call")
    tenant, pbx = world.pbx.tenant_id, world.pbx.pk
    for record in (first, second, whole):
        assert record.call_id == call_id
        assert started - 1 <= record.start_time.timestamp() <= ended
        assert (record.tenant_id, record.pbx_id, record.rule_id) == (tenant, pbx, world.france.pk)
        assert (record.direction, record.source_ip) == ("out", "127.0.0.1")
        assert (record.caller_in, record.callee_in, record.callee) == ("alice", FRANCE, FRANCE)

    # Alpha's 503: the first attempt, with Alpha's ids and the number as Alpha got it.
    assert (first.attempt, first.sip_code, first.sip_reason) == (1, 503, "Service Unavailable")
    assert (first.carrier_id, first.gateway_id) == (world.alpha.pk, world.alpha1.pk)
    assert (first.callee_out, first.caller_out) == (FRANCE, PRESENTED)
    assert first.answer_ms is None and first.duration_ms is None

    # Beta answered the second: its ids, the national number it got, a PDD (its 180), the
    # answer after it.
    assert (second.attempt, second.sip_code) == (2, 200)
    assert (second.carrier_id, second.gateway_id) == (world.beta1.carrier_id, world.beta1.pk)
    assert (second.callee_out, second.caller_out) == (NATIONAL, "0100000000")
    assert second.pdd_ms is not None and second.answer_ms is not None
    assert 0 <= second.pdd_ms <= second.answer_ms
    assert second.end_time >= second.start_time

    # The call: answered through Beta after two attempts, hung up by the caller.
    assert (whole.sip_code, whole.attempts, whole.hangup) == (200, 2, "caller")
    assert (whole.carrier_id, whole.gateway_id, whole.callee_out) == (
        world.beta1.carrier_id, world.beta1.pk, NATIONAL,
    )  # fmt: skip
    assert whole.pdd_ms is not None and whole.answer_ms is not None and whole.duration_ms
    assert whole.pdd_ms <= whole.answer_ms
    assert whole.start_time.timestamp() + (whole.answer_ms + whole.duration_ms) / 1000 <= ended + 1

    # ... and in the rollups: one attempt each for Alpha and Beta, Beta's call answered.
    alpha_sums = TrafficRollup.objects.get(carrier_id=world.alpha.pk)
    beta_sums = TrafficRollup.objects.get(carrier_id=world.beta1.carrier_id)
    assert (alpha_sums.attempts, alpha_sums.answered, alpha_sums.failed_5xx) == (1, 0, 1)
    assert (beta_sums.attempts, beta_sums.answered, beta_sums.calls_answered) == (1, 1, 1)
    assert beta_sums.duration_sum_ms == whole.duration_ms


def test_a_busy_callee_and_a_refused_call(world, edge, cdr_queue, tmp_path):
    with carrier("uas_486.xml", world.alpha_port, tmp_path, "alpha") as alpha:
        busy = call(edge, tmp_path, scenario="uac_expect_fail.xml")
        seen_alpha = alpha.wait(10)
    refused = call(edge, tmp_path, number="4930123456", scenario="uac_expect_fail.xml")
    assert busy.ok and refused.ok, show(busy, refused, seen_alpha, edge.log_tail())

    ingester = store_records(cdr_queue, 3)
    assert (ingester.counts.stored, ingester.counts.rejected) == (3, 0), edge.log_tail()
    busy_id = busy.received()[0].header("Call-ID")
    attempt = CallRecord.objects.get(kind="attempt")
    assert (attempt.call_id, attempt.sip_code, attempt.carrier_id) == (busy_id, 486, world.alpha.pk)
    busy_call = CallRecord.objects.get(kind="call", call_id=busy_id)
    assert (busy_call.sip_code, busy_call.sip_reason, busy_call.attempts) == (486, "Busy Here", 1)
    assert (busy_call.hangup, busy_call.duration_ms) == ("", None)
    # No rule for 49...: c4router refused, the caller got its 404; no attempt, one call.
    refused_call = CallRecord.objects.get(call_id=refused.received()[0].header("Call-ID"))
    assert (refused_call.kind, refused_call.sip_code, refused_call.sip_reason) == (
        "call", 404, "No Route",
    )  # fmt: skip
    assert (refused_call.attempts, refused_call.rule_id, refused_call.tenant_id) == (
        0, None, world.pbx.tenant_id,
    )  # fmt: skip


def test_a_call_c4router_could_not_route_has_its_500(world, server, edge, cdr_queue, tmp_path):
    server.stop()  # the API is down: Kamailio answers 500 "API Not Available" itself
    caller = call(edge, tmp_path, scenario="uac_expect_fail.xml")
    assert caller.ok, show(caller, edge.log_tail())
    ingester = store_records(cdr_queue, 1)
    assert (ingester.counts.stored, ingester.counts.rejected) == (1, 0), edge.log_tail()
    record = CallRecord.objects.get()
    assert (record.kind, record.sip_code, record.sip_reason) == ("call", 500, "API Not Available")
    assert (record.attempts, record.tenant_id, record.rule_id) == (0, None, None)
    assert "non-string values are not supported" not in edge.log_text()


def deck(
    name: str,
    rate: str,
    *,
    fee: str = "0",
    inc: tuple[int, int] = (1, 1),
    prefix: str = "33",
    **owner,
) -> None:
    """A EUR deck with one rate (default for 33: every French number), in effect since
    yesterday."""
    rates = saved(RateDeck(name=name, currency="EUR", **owner))
    saved(
        Rate(deck=rates, prefix=prefix, rate=D(rate), connect_fee=D(fee),
             initial_increment=inc[0], next_increment=inc[1],
             effective_from=timezone.now() - timedelta(days=1))
    )  # fmt: skip


def test_a_least_cost_call_is_priced_by_the_carrier_that_answered(
    world, server, edge, cdr_queue, tmp_path
):
    # The France rule orders by cost: Alpha (0.0125/min) first, then Beta (0.02/min, a
    # 0.05 connect fee, billed 1 s then 6 s at a time); Acme pays 0.05/min plus 0.02 per
    # call, billed per whole minute.
    deck("Alpha buy", "0.0125", carrier=world.alpha)
    deck("Beta buy", "0.02", fee="0.05", inc=(1, 6), carrier=world.beta1.carrier)
    deck("Acme sell", "0.05", fee="0.02", inc=(60, 60), tenant=world.pbx.tenant)
    world.france.mode = "lcr"
    saved(world.france)
    wait_for_answer(
        server, lambda answer: answer["routes"][0]["c4"].get("rate") == "0.012500", timeout=30
    )
    # Alpha, the cheapest, fails; Beta answers; the caller hangs up 3 s after the answer.
    with (
        carrier("uas_503.xml", world.alpha_port, tmp_path, "alpha") as alpha,
        carrier("uas.xml", world.beta_port, tmp_path, "beta") as beta,
    ):
        caller = call(edge, tmp_path, duration_ms=3000)
        seen_alpha, seen_beta = alpha.wait(10), beta.wait(10)
    assert caller.ok, show(caller, seen_alpha, seen_beta, edge.log_tail())

    ingester = store_records(cdr_queue, 3)
    assert (ingester.counts.stored, ingester.counts.rejected) == (3, 0), edge.log_tail()
    first, second = CallRecord.objects.filter(kind="attempt").order_by("attempt")
    whole = CallRecord.objects.get(kind="call")
    # Each attempt keeps its carrier's rate and the customer's; attempts are not priced.
    assert (first.carrier_id, first.rate, first.sell_rate) == (
        world.alpha.pk,
        D("0.0125"),
        D("0.05"),
    )
    assert (second.rate, second.currency, second.cost) == (D("0.02"), "EUR", None)
    # The call: 3 s and a little (SIPp's pause, then the BYE through Kamailio): 4 started
    # seconds at most, which Beta bills as 1 + 6 = 7 s (anything from 1.001 s to 7 s would).
    assert 3000 <= whole.duration_ms <= 6000, whole.duration_ms
    assert (whole.carrier_id, whole.currency, whole.billed_seconds) == (
        world.beta1.carrier_id, "EUR", 7,
    )  # fmt: skip
    assert whole.cost == D("0.052333")  # 0.05 + 0.02 x 7 / 60 = 0.0523333...
    assert whole.revenue == D("0.07")  # 0.02 + 0.05 x 60 / 60
    assert whole.margin == D("0.017667")
    # ... and the money in the rollups, by the carrier that answered.
    start, end = whole.start_time - timedelta(hours=1), whole.start_time + timedelta(hours=1)
    (money,) = rollups.money_by("carrier_id", start, end)[world.beta1.carrier_id]
    assert (money.currency, money.priced, money.cost, money.revenue, money.margin) == (
        "EUR", 1, D("0.052333"), D("0.07"), D("0.017667"),
    )  # fmt: skip


def test_a_ported_number_keeps_the_dialled_number_and_its_lrn(
    world, server, edge, cdr_queue, tmp_path
):
    # FRANCE is ported: its LRN's rule, least-cost, sends it to Beta, priced on the LRN
    # (Beta's deck has a rate for 337, none for the dialled 336).
    lrn_rule = saved(RouteRule(name="Mobile LRN", prefix="337", mode="lcr"))
    saved(RouteTarget(rule=lrn_rule, gateway=world.beta1, order=0))
    deck("Beta buy", "0.06", prefix="337", inc=(30, 30), carrier=world.beta1.carrier)
    saved(LnpRule(prefix="33"))
    saved(PortedNumber(number=FRANCE, lrn="33700000001"))
    wait_for_answer(server, lambda answer: answer["c4"].get("lrn") == "33700000001", timeout=30)
    with carrier("uas.xml", world.beta_port, tmp_path, "beta") as beta:
        caller = call(edge, tmp_path)
        seen_beta = beta.wait(10)
    assert caller.ok, show(caller, seen_beta, edge.log_tail())

    ingester = store_records(cdr_queue, 2)
    assert (ingester.counts.stored, ingester.counts.rejected) == (2, 0), edge.log_tail()
    for record in CallRecord.objects.all():
        assert (record.callee, record.lrn, record.carrier_id) == (
            FRANCE, "33700000001", world.beta1.carrier_id,
        ), record  # fmt: skip
        assert (record.rule_id, record.callee_out) == (lrn_rule.pk, NATIONAL)
        assert (record.rate, record.currency) == (D("0.06"), "EUR")
    # The call: 200 ms of talk (SIPp's pause), billed 30 s: 0.06 x 30 / 60; no sell deck.
    whole = CallRecord.objects.get(kind="call")
    assert (whole.billed_seconds, whole.cost, whole.revenue) == (30, D("0.03"), None)
