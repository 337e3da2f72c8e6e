"""The ingester against the real RabbitMQ (C4ROUTER_CDR_AMQP_URL) and PostgreSQL: stored
and acked, a bad message set aside with its reason, a redelivery not doubled."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import orjson
import pika
import pytest
from django.conf import settings

from routing.cdr.ingest import Ingester, rejected_queue
from routing.models import CallRecord, TrafficRollup

from .samples import answered_attempt, body, call, failed_attempt

pytestmark = pytest.mark.django_db(transaction=True)

T0 = (datetime.now(UTC) - timedelta(minutes=30)).timestamp()


def rabbitmq() -> pika.BlockingConnection:
    try:
        return pika.BlockingConnection(pika.URLParameters(settings.C4ROUTER_CDR["AMQP_URL"]))
    except pika.exceptions.AMQPError as exc:  # .ci/run checks it is there
        pytest.fail(f"RabbitMQ at C4ROUTER_CDR_AMQP_URL is not reachable: {exc!r}")


@pytest.fixture
def queue() -> Iterator[str]:
    """A queue of the test's own (deleted afterwards, with its rejected queue)."""
    name = f"c4router.test.{uuid.uuid4().hex[:10]}"
    yield name
    connection = rabbitmq()
    channel = connection.channel()
    channel.queue_delete(name)
    channel.queue_delete(rejected_queue(name))
    connection.close()


def publish(queue: str, *bodies: bytes) -> None:
    connection = rabbitmq()
    channel = connection.channel()
    channel.queue_declare(queue, durable=True)
    for item in bodies:
        channel.basic_publish("", queue, item, pika.BasicProperties(delivery_mode=2))
    connection.close()


def queued(queue: str) -> list[bytes]:
    connection = rabbitmq()
    channel = connection.channel()
    out = []
    while True:
        method, _props, item = channel.basic_get(queue, auto_ack=True)
        if method is None:
            break
        out.append(item)
    connection.close()
    return out


def ingest(queue: str) -> Ingester:
    ingester = Ingester(queue=queue, batch=50, max_wait=0.1, log=lambda line: None)
    ingester.run(drain=True, max_seconds=30)
    return ingester


def test_records_are_stored_and_acked(queue):
    messages = [
        body(m(T0, f"call-{n}"))
        for n in range(40)
        for m in (failed_attempt, answered_attempt, call)
    ]
    publish(queue, *messages)
    ingester = ingest(queue)
    assert (ingester.counts.stored, ingester.counts.rejected) == (120, 0)
    assert CallRecord.objects.count() == 120
    assert CallRecord.objects.filter(kind="call", sip_code=200).count() == 40
    assert TrafficRollup.objects.get(carrier_id=11).calls_answered == 40
    assert queued(queue) == []  # all acked


def test_a_message_that_is_not_a_record_is_set_aside_with_the_reason(queue):
    publish(queue, body(call(T0, "good")), b'{"sip_code": "200"}', b"\xff garbage")
    ingester = ingest(queue)
    assert (ingester.counts.stored, ingester.counts.rejected) == (1, 2)
    rejected = [orjson.loads(item) for item in queued(rejected_queue(queue))]
    assert [item["reason"] for item in rejected] == [
        "neither an attempt (sip_code, callid) nor a call (start_time, duration)",
        "not JSON (str is not valid UTF-8: surrogates not allowed: line 1 column 1 (char 0))",
    ]
    assert rejected[0]["message"] == '{"sip_code": "200"}'
    assert queued(queue) == []


def test_records_delivered_again_are_not_doubled(queue):
    messages = [body(m(T0, "once")) for m in (failed_attempt, answered_attempt, call)]
    publish(queue, *messages)
    ingest(queue)
    # As if the ingester had died after COMMIT and before its ack: RabbitMQ delivers again.
    publish(queue, *messages)
    again = ingest(queue)
    assert (again.counts.stored, again.counts.duplicates) == (0, 3)
    assert CallRecord.objects.count() == 3
    assert TrafficRollup.objects.get(carrier_id=11).attempts == 1
