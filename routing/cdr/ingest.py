"""The ingester: call records from RabbitMQ into PostgreSQL, none lost, none doubled.

Kamailio publishes each record as a persistent message to the durable queue
C4ROUTER_CDR_QUEUE. The ingester takes up to `batch` unacknowledged messages (prefetch),
checks them (records.py), stores the batch and its rollups in one transaction (store.py)
and acks the whole batch only after COMMIT:

- PostgreSQL unreachable: the batch is retried (backoff up to 5 s) until it commits;
  meanwhile RabbitMQ keeps every record that arrives: nothing is lost;
- the ingester killed or restarted: whatever was not acked is delivered again, and what
  was committed but not yet acked is not stored twice (store.py's key): nothing doubled;
- a message that is not a record: published with the reason to the queue
  `<queue>.rejected` (durable), then acked: a person can read it there, nothing is lost.
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pika
import pika.exceptions
from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection

from routing.cdr import partitions
from routing.cdr.records import RecordError, parse_message
from routing.cdr.store import store_rows

logger = logging.getLogger("c4router.cdr")

MAINTENANCE_SECONDS = 3600
REPORT_SECONDS = 60
# Carrier health: the failure rates are recounted this often (the windows move even when
# no record comes: a demoted gateway recovers by itself).
DEMOTION_SECONDS = 1.0
RETRY_MAX_SECONDS = 5.0


def rejected_queue(queue: str) -> str:
    return f"{queue}.rejected"


def connect(url: str) -> pika.BlockingConnection:
    params = pika.URLParameters(url)
    params.socket_timeout = 5
    params.blocked_connection_timeout = 30
    return pika.BlockingConnection(params)


def declare(channel: Any, queue: str) -> None:
    """The durable queues (idempotent): Kamailio's messages are dropped by RabbitMQ if the
    queue does not exist yet, so deployments run `ingest_cdrs --setup` before Kamailio."""
    channel.queue_declare(queue=queue, durable=True)
    channel.queue_declare(queue=rejected_queue(queue), durable=True)


def setup(url: str | None = None, queue: str | None = None) -> None:
    url, queue = url or settings.C4ROUTER_CDR["AMQP_URL"], queue or settings.C4ROUTER_CDR["QUEUE"]
    conn = connect(url)
    try:
        declare(conn.channel(), queue)
    finally:
        conn.close()
    partitions.maintain()


@dataclass
class Counts:
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    batches: int = 0
    db_retries: int = 0
    started: float = field(default_factory=time.monotonic)


class Ingester:
    def __init__(
        self,
        url: str | None = None,
        queue: str | None = None,
        *,
        batch: int = 1000,
        max_wait: float = 0.2,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.url = url or settings.C4ROUTER_CDR["AMQP_URL"]
        self.queue = queue or settings.C4ROUTER_CDR["QUEUE"]
        self.batch = batch
        self.max_wait = max_wait
        self.counts = Counts()
        self.stopping = False
        self.log = log or logger.info
        self._connection: pika.BlockingConnection | None = None

    def stop(self, *_: object) -> None:
        """Finish the batch in hand (stored and acked), then return from run()."""
        self.stopping = True

    def install_signals(self) -> None:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)

    def run(self, *, drain: bool = False, max_seconds: float | None = None) -> Counts:
        """Consume until stop() (or, with drain, until the queue is empty)."""
        deadline = time.monotonic() + max_seconds if max_seconds else None
        next_maintenance = 0.0
        next_demotion = 0.0
        next_report = time.monotonic() + REPORT_SECONDS
        while not self.stopping:
            try:
                self._connection = connection_ = connect(self.url)
                channel = connection_.channel()
                declare(channel, self.queue)
                channel.basic_qos(prefetch_count=self.batch)
                self.log(f"call records: consuming {self.queue} (batch {self.batch})")
                pending: list[tuple[int, bytes]] = []
                first_at = 0.0
                for method, _props, body in channel.consume(
                    self.queue, inactivity_timeout=self.max_wait
                ):
                    now = time.monotonic()
                    if method is not None:
                        if not pending:
                            first_at = now
                        pending.append((method.delivery_tag, body))
                    full = len(pending) >= self.batch
                    if pending and (full or method is None or now - first_at >= self.max_wait):
                        self._flush(channel, pending)
                        pending = []
                    if now >= next_maintenance:
                        self._maintain()
                        next_maintenance = now + MAINTENANCE_SECONDS
                    if now >= next_demotion:
                        self._demote()
                        next_demotion = now + DEMOTION_SECONDS
                    if now >= next_report:
                        self._report()
                        next_report = now + REPORT_SECONDS
                    if drain and method is None and not pending and _empty(channel, self.queue):
                        self.stopping = True
                    if deadline is not None and now >= deadline:
                        self.stopping = True
                    if self.stopping and not pending:
                        break
                channel.cancel()
                connection_.close()
            except DatabaseError:
                # Stopped while the database was unreachable: the batch in hand was not
                # acked and stays in RabbitMQ for the next run.
                self.log("call records: stopped during a database outage, batch left queued")
                break
            except (pika.exceptions.AMQPError, OSError) as exc:
                # Unacked messages go back to the queue and come again: nothing lost, and
                # what was already committed is not stored twice.
                if self.stopping:
                    break
                self.log(f"call records: RabbitMQ connection lost ({exc!r}), reconnecting")
                time.sleep(1.0)
            finally:
                self._connection = None
        return self.counts

    def _flush(self, channel: Any, pending: list[tuple[int, bytes]]) -> None:
        rows = []
        now = datetime.now(UTC)
        oldest = oldest_allowed(now)
        for _tag, body in pending:
            try:
                row = parse_message(body, now)
                if row["start_time"] < oldest:
                    raise RecordError("older than C4ROUTER_CDR_RETENTION_DAYS")
                rows.append(row)
            except RecordError as exc:
                self._reject(channel, body, str(exc))
        stored = self._store(rows)
        channel.basic_ack(delivery_tag=pending[-1][0], multiple=True)
        counts = self.counts
        counts.received += len(pending)
        counts.stored += stored
        counts.duplicates += len(rows) - stored
        counts.batches += 1

    def _store(self, rows: list[dict[str, Any]]) -> int:
        """Commit the rows, retrying while the database is unreachable (never returns
        without having committed them, except when stopping: then it raises)."""
        delay = 0.2
        while True:
            try:
                close_old_connections()
                return store_rows(rows)
            except DatabaseError as exc:
                self.counts.db_retries += 1
                if self.counts.db_retries == 1 or delay >= RETRY_MAX_SECONDS:
                    self.log(f"call records: cannot store a batch ({exc!s:.200}), retrying")
                connection.close()
                partitions.forget_known()
                if self.stopping:
                    raise
                # Sleeping through the connection keeps RabbitMQ's heartbeats going.
                if self._connection is not None:
                    self._connection.sleep(delay)
                else:
                    time.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_SECONDS)

    def _reject(self, channel: Any, body: bytes, reason: str) -> None:
        self.counts.rejected += 1
        logger.warning("call records: message rejected: %s", reason)
        envelope = orjson.dumps({"reason": reason, "message": body.decode(errors="replace")})
        channel.basic_publish(
            exchange="",
            routing_key=rejected_queue(self.queue),
            body=envelope,
            properties=pika.BasicProperties(delivery_mode=2, content_type="application/json"),
        )

    def _maintain(self) -> None:
        try:
            close_old_connections()
            partitions.maintain()
        except DatabaseError as exc:
            self.log(f"call records: partition maintenance failed ({exc!s:.200})")
            connection.close()

    def _demote(self) -> None:
        """Carrier health's passive demotion: the failure rates over their windows, from
        the records stored so far (routing.carrier_health)."""
        from routing.carrier_health import update_demotions

        try:
            close_old_connections()
            update_demotions()
        except DatabaseError as exc:
            self.log(f"call records: demotion recount failed ({exc!s:.200})")
            connection.close()

    def _report(self) -> None:
        counts = self.counts
        seconds = max(time.monotonic() - counts.started, 1e-9)
        self.log(
            f"call records: {counts.stored} stored ({counts.stored / seconds:.0f}/s), "
            f"{counts.duplicates} already stored, {counts.rejected} rejected"
        )


def _empty(channel: Any, queue: str) -> bool:
    """No message waiting (a pause in the deliveries is not the end of the queue)."""
    method = channel.queue_declare(queue=queue, durable=True, passive=True).method
    return int(method.message_count) == 0


def oldest_allowed(now: datetime) -> datetime:
    """Records older than the retention would land in a partition about to be dropped."""
    return now - timedelta(days=settings.C4ROUTER_CDR["RETENTION_DAYS"])
