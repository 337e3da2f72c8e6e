"""Call records across a 30 s PostgreSQL outage and ingester crashes: none lost, none doubled.

The fault suite's private PostgreSQL holds the database of the real c4router (uvicorn) and
of `manage.py ingest_cdrs`; Kamailio (rendered with C4ROUTER_CDR_ENABLED, a RabbitMQ queue
of the test's own) routes every call of a SIPp caller to Alpha (503), then Beta (200): each
call makes 3 records (2 attempts, 1 call). While calls flow, PostgreSQL is stopped for 30 s
and the ingester is killed (SIGKILL) twice, during the outage and after it, and started
again. At the end every record of every call is in the database exactly once, and the
rollups count each once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import harness as h
import pika
import psycopg
import pytest

from tests.live import REPO, C4RouterServer

from .conftest import admin_api, first_hop, make_world, manage, sipp_counts, wait_for

pytestmark = pytest.mark.faults

AMQP_URL = os.environ.get("C4ROUTER_CDR_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
RATE = 20  # calls/s
CALLS = 1000  # 50 s of calls
STOP_AT = 8.0  # s after the first call
OUTAGE = 30.0  # s without PostgreSQL


class IngesterProcess:
    """`manage.py ingest_cdrs` in its own process group, killed like a crash."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "manage.py", "ingest_cdrs", "--batch", "200"], cwd=REPO,
                env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                stdin=subprocess.DEVNULL,
            )  # fmt: skip

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


def waiting(queue: str) -> int:
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    method = connection.channel().queue_declare(queue, durable=True, passive=True).method
    connection.close()
    return int(method.message_count)


def counts(database_url: str) -> dict[str, int]:
    with psycopg.connect(database_url, connect_timeout=5) as conn:
        records = dict(conn.execute("SELECT kind, count(*) FROM routing_callrecord GROUP BY kind"))
        distinct = conn.execute(
            "SELECT count(*) FROM "
            "(SELECT DISTINCT call_id, kind, attempt FROM routing_callrecord) k"
        ).fetchone()[0]
        sums = conn.execute(
            "SELECT coalesce(sum(attempts), 0), coalesce(sum(calls), 0) FROM routing_trafficrollup"
        ).fetchone()
    return {
        "attempts": records.get("attempt", 0), "calls": records.get("call", 0),
        "distinct": distinct, "rollup_attempts": sums[0], "rollup_calls": sums[1],
    }  # fmt: skip


def test_no_record_lost_or_doubled_across_a_postgres_outage_and_ingester_crashes(
    private_postgres, database_url, call_load, tmp_path
):
    pg = private_postgres
    queue = f"c4router.faults.{uuid.uuid4().hex[:10]}"
    cdr_env = {"C4ROUTER_CDR_ENABLED": "1", "C4ROUTER_CDR_QUEUE": queue}
    env = {
        **os.environ, "DJANGO_SETTINGS_MODULE": "c4router.settings", "C4ROUTER_MODE": "dev",
        "DEBUG": "0", "DATABASE_URL": database_url, "PYTHONUNBUFFERED": "1", **cdr_env,
    }  # fmt: skip
    manage("ingest_cdrs", "--setup", database_url=database_url, **cdr_env)
    ingester = IngesterProcess(env, tmp_path / "ingester.log")
    alpha = beta = edge = None
    try:
        with (
            C4RouterServer(tmp_path, database_url=database_url) as server,
            admin_api(server) as api,
        ):
            world = make_world(api, [f"{server.url}/kamailio/rtjson"])
            wait_for(lambda: first_hop(server), 5, "the server routes")
            etc, req = tmp_path / "etc", h.requirements()
            manage(
                "render_kamailio_config", "--instance", "edge1", "--output-dir", str(etc),
                "--http-async-client", str(req.http_async_client), "--module-path",
                str(req.module_dir), database_url=database_url, **cdr_env,
            )  # fmt: skip
            edge = h.KamailioProcess(
                (etc / "edge1.cfg").read_text(), world.edge_port, tmp_path / "kamailio",
                shm_mb=128,
            )  # fmt: skip
            edge.start()
            alpha = h.SippUAS("uas_503.xml", workdir=tmp_path, port=world.alpha_port,
                              calls=CALLS, timeout_s=120, tag="alpha").start()  # fmt: skip
            beta = h.SippUAS("uas.xml", workdir=tmp_path, port=world.beta_port,
                             calls=CALLS, timeout_s=120, tag="beta").start()  # fmt: skip
            ingester.start()

            load = call_load(edge, RATE, CALLS)
            load.sleep_until(STOP_AT)
            pg.stop("fast")
            stopped_at = time.monotonic()
            time.sleep(OUTAGE / 2)
            ingester.kill()  # a crash while the database is away: its batch was not acked
            ingester.start()
            time.sleep(max(0.0, OUTAGE - (time.monotonic() - stopped_at)))
            pg.start()
            outage = time.monotonic() - stopped_at
            time.sleep(3)
            ingester.kill()  # a crash with the database back: maybe between COMMIT and ack
            ingester.start()

            result = load.wait()
            placed = sipp_counts(result)
            assert result.ok and placed["successful"] == CALLS, (
                f"{placed}\n{result.stdout[-2000:]}\n{edge.log_tail()}"
            )
            # Kamailio writes a call's record at its BYE: then every record is queued or
            # stored; the ingester empties the queue.
            wait_for(lambda: waiting(queue) == 0, 60, "the ingester empties the queue", 0.5)
            ingester.stop()
            found = counts(database_url)
            kamailio_errors = [line for line in edge.log_text().splitlines()
                               if "call records" in line and "ERROR" in line]  # fmt: skip
    finally:
        ingester.stop()
        for sipp in (alpha, beta):
            if sipp is not None:
                sipp.stop()
        if edge is not None:
            edge.stop()
        connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
        connection.channel().queue_delete(queue)
        connection.channel().queue_delete(f"{queue}.rejected")
        connection.close()

    log = (tmp_path / "ingester.log").read_text(errors="replace")
    assert "cannot store a batch" in log, "the outage did not hit the ingester:\n" + log[-3000:]
    expected = {"attempts": 2 * CALLS, "calls": CALLS}
    assert {k: found[k] for k in expected} == expected, (found, log[-3000:])
    assert found["distinct"] == 3 * CALLS  # none doubled
    assert (found["rollup_attempts"], found["rollup_calls"]) == (2 * CALLS, CALLS)
    assert kamailio_errors == []
    print(
        f"\nfigures: pg outage {outage:.0f}s, ingester killed twice: calls placed "
        f"{placed['created']}, completed {placed['successful']}, records "
        f"{found['attempts'] + found['calls']}/{3 * CALLS} (lost "
        f"{3 * CALLS - found['distinct']}, doubled "
        f"{found['attempts'] + found['calls'] - found['distinct']})"
    )
