"""bench/run's "records" section: call records through Kamailio, ingestion, dashboard queries.

- records: the kamailio section's setup (SIPp caller -> Kamailio -> c4router -> a 503
  carrier -> a 200 carrier) at RATE calls/s, once with the call records off, once on, and
  once on with the rule in least-cost mode (every route with its rates and billing terms,
  every answered call priced at ingest: `bench.dataset set-rule-mode`), each time a
  Kamailio of its own (with records: rendered with call_records, publishing to a queue of
  the run's own, `manage.py ingest_cdrs` storing them in c4router_bench): calls, failed,
  Kamailio's CPU per call off, on and least-cost, and the records stored against the
  attempts and calls placed (least-cost: and the calls priced).
- ingest: records per second the ingester stores (INGEST_RECORDS Kamailio-shaped messages
  queued first, then `Ingester.run(drain=True)` timed in this process).
- dashboard: the rollups of a day of 10,000,000 attempts (288 buckets x 2,000 keys of
  tenant/carrier/gateway/rule, written in SQL with the counters summing to 10M), and the
  time of each query a dashboard makes over that day (routing.cdr.rollups).
- outage: tests/faults/test_cdr_no_loss.py (PostgreSQL stopped 30 s, the ingester killed
  twice while 1,000 calls flow), its figures line.

`python -m bench.cdr_bench ingest|dashboard --db NAME` runs the in-process parts (RESULT
line as JSON), for bench/main.py.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
import uuid
from typing import TYPE_CHECKING, Any

from bench import kamailio_load, procs
from bench.dataset import DB_PREFIX, TOKEN, server_url
from bench.procs import CONFIGS, REPO

if TYPE_CHECKING:
    from bench.main import Bench

RATE = 600
SECONDS = 8
INGEST_RECORDS = 60_000
DAY_ATTEMPTS = 10_000_000


def run(bench: Bench, quick: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {}
    only = set(getattr(bench.args, "records_parts", None) or ("ingest", "dashboard", "kamailio",
                                                              "outage"))  # fmt: skip
    if "ingest" in only:
        out["ingest"] = ingest_part(bench, quick)
    if "dashboard" in only:
        out["dashboard"] = dashboard_part(bench, quick)
    if quick:
        return out
    if "kamailio" in only:
        out["kamailio"] = kamailio_records(bench, getattr(bench.args, "records_rate", RATE))
    if "outage" in only:
        out["outage"] = outage()
    return out


def ingest_part(bench: Bench, quick: bool) -> dict[str, Any]:
    result = bench.result_of(
        bench.python(
            "-m",
            "bench.cdr_bench",
            "ingest",
            "--db",
            DB_PREFIX,
            "--records",
            str(10_000 if quick else INGEST_RECORDS),
            timeout=600,
            env=bench.env(DB_PREFIX),
        )
    )
    print(f"    ingest: {result['records_per_s']:,.0f} records/s", flush=True)
    return result


def dashboard_part(bench: Bench, quick: bool) -> dict[str, Any]:
    return bench.result_of(
        bench.python(
            "-m",
            "bench.cdr_bench",
            "dashboard",
            "--db",
            DB_PREFIX,
            "--attempts",
            str(1_000_000 if quick else DAY_ATTEMPTS),
            timeout=1200,
            env=bench.env(DB_PREFIX),
        )
    )


# --- Kamailio with the records off and on ------------------------------------------------------


def kamailio_records(bench: Bench, rate: int = RATE) -> dict[str, Any]:
    harness = kamailio_load._harness()
    from routing.kamailio_render import CAPACITY_OFF, OVERLOAD_OFF, render_kamailio_config

    req = harness.requirements()
    work = bench.work / "records"
    work.mkdir(exist_ok=True)
    queue = f"c4router.bench.{uuid.uuid4().hex[:8]}"
    env = procs.production_env(server_url(DB_PREFIX), {"C4ROUTER_CDR_QUEUE": queue})
    manage = [sys.executable, "manage.py", "ingest_cdrs"]
    subprocess.run([*manage, "--setup"], cwd=REPO, env=env, check=True, timeout=120,
                   capture_output=True)  # fmt: skip
    out: dict[str, Any] = {"rate": rate, "seconds": SECONDS, "queue": queue}
    bound = 4 * (SECONDS + 40) + 60
    server = bench.server("c4router", CONFIGS[0])
    ingester = None
    with server:
        fail_uas, fail_port, fail_stats = kamailio_load.uas(
            harness, "uas_503.xml", work, "uas-503", bound
        )
        ok_uas, ok_port, ok_stats = kamailio_load.uas(harness, "uas.xml", work, "uas-200", bound)

        def invites() -> int:
            """INVITEs the two carriers received so far: the attempts Kamailio made."""
            return sum(
                kamailio_load._count(kamailio_load.sipp_stats(path), "IncomingCall(C)")
                for path in (fail_stats, ok_stats)
            )

        bench.python("-m", "bench.dataset", "set-gateways", "--db", DB_PREFIX, "--fail-port",
                     str(fail_port), "--ok-port", str(ok_port), timeout=60)  # fmt: skip
        kamailio_load.wait_routes(server.url, fail_port, ok_port)
        ingester = procs.spawn([*manage, "--batch", "1000"], log=work / "ingester.log", cwd=REPO,
                               env=env)  # fmt: skip
        try:
            # off and on: the rule in priority mode; lcr: records on, the rule in least-cost
            # mode, each route carrying its rates and billing terms, each call priced.
            for name, records, mode in (("off", False, "priority"), ("on", True, "priority"),
                                        ("lcr", True, "lcr")):  # fmt: skip
                if mode == "lcr":
                    bench.python("-m", "bench.dataset", "set-rule-mode", "--db", DB_PREFIX,
                                 "--mode", "lcr", timeout=60)  # fmt: skip
                    kamailio_load.wait_routes(server.url, fail_port, ok_port, priced=True)
                sip_port = harness.free_port()
                context = {
                    "name": "bench", "listen_ip": "127.0.0.1", "listen_port": sip_port,
                    "transport": "udp", "advertised_address": "",
                    "api_urls": [f"{server.url}/kamailio/rtjson"], "api_timeout_ms": 2000,
                    "api_token": TOKEN, "http_workers": 4, "children": 8, "fr_timer_ms": 5000,
                    "fr_inv_timer_ms": 30000, "failover_codes": kamailio_load.FAILOVER_CODES,
                    "http_async_client_module": req.http_async_client,
                    "module_path": req.module_dir, "log_level": 1, "call_records": records,
                    "cdr_amqp_url": env.get("C4ROUTER_CDR_AMQP_URL",
                                            "amqp://guest:guest@127.0.0.1:5672/%2F"),
                    "cdr_queue": queue, "max_call_seconds": 3600, **CAPACITY_OFF, **OVERLOAD_OFF,
                    "api_breaker_failures": 3, "api_breaker_seconds": 30, "probes": [],
                }  # fmt: skip
                kamailio = harness.KamailioProcess(
                    render_kamailio_config(context), port=sip_port, workdir=work / name,
                    shm_mb=256, pkg_mb=16,
                )  # fmt: skip
                kamailio.start()
                assert kamailio.proc is not None
                procs.register(kamailio.proc)
                try:
                    groups = {
                        "kamailio": kamailio.proc.pid,
                        "c4router": server.process.pid if server.process else 0,
                        "sipp_uas": [fail_uas.pid, ok_uas.pid],
                    }
                    started = time.time()
                    time.sleep(1.5)  # the carriers' statistics files are written every second
                    attempts_before = invites()
                    step = kamailio_load.call_step(harness, work, sip_port, rate, SECONDS, groups)
                    time.sleep(3)
                    step["attempts"] = invites() - attempts_before
                    step["started"] = started
                    step["kamailio_cpu_ms_per_call"] = (
                        step["cpu_kamailio"] * step["elapsed_s"] / max(step["calls"], 1) * 1000
                    )
                    out[name] = step
                    print(
                        f"    records {name}: {step['completed']}/{step['calls']} completed, "
                        f"{step['failed']} failed; Kamailio "
                        f"{step['kamailio_cpu_ms_per_call']:.3f} ms CPU per call",
                        flush=True,
                    )
                    if records:
                        # The last calls' records: published within CDR_INTERVAL_MS of their
                        # BYE, then stored: wait until the ingester has stored them all.
                        stored = wait_stored(started, step["attempts"] + step["calls"])
                        out["stored" if name == "on" else f"stored_{name}"] = stored
                finally:
                    kamailio.stop()
                time.sleep(2)
        finally:
            bench.python("-m", "bench.dataset", "set-rule-mode", "--db", DB_PREFIX, "--mode",
                         "priority", timeout=60)  # fmt: skip
            procs.stop(ingester)
            procs.stop(fail_uas)
            procs.stop(ok_uas)
            delete_queue(queue)
    return out


def wait_stored(since: float, expected: int, timeout: float = 120.0) -> dict[str, int]:
    """The records stored for calls started after `since` (this run's), once they stop
    growing or reach `expected`."""
    import psycopg

    deadline = time.monotonic() + timeout
    last: dict[str, int] = {}
    while time.monotonic() < deadline:
        with psycopg.connect(server_url(DB_PREFIX), connect_timeout=5) as conn:
            row = conn.execute(
                "SELECT count(*) FILTER (WHERE kind = 'attempt'), "
                "count(*) FILTER (WHERE kind = 'call'), "
                "count(DISTINCT (call_id, kind, attempt)), "
                "count(*) FILTER (WHERE kind = 'call' AND cost IS NOT NULL) "
                "FROM routing_callrecord "
                "WHERE start_time >= to_timestamp(%s)",
                [since - 1],
            ).fetchone()
        now = {"attempts": row[0], "calls": row[1], "distinct": row[2], "priced": row[3]}
        if now["attempts"] + now["calls"] >= expected or (now == last and now["calls"]):
            return now
        last = now
        time.sleep(2)
    return last


def delete_queue(queue: str) -> None:
    import pika

    url = os.environ.get("C4ROUTER_CDR_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    channel.queue_delete(queue)
    channel.queue_delete(f"{queue}.rejected")
    connection.close()


def outage() -> dict[str, Any]:
    """The fault test's figures line (it asserts lost = 0 and doubled = 0 itself)."""
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/faults/test_cdr_no_loss.py", "-q", "-s",
         "-p", "no:cacheprovider"],
        cwd=REPO, capture_output=True, text=True, timeout=900, check=False,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"},
    )  # fmt: skip
    found = re.search(
        r"calls placed (\d+), completed (\d+), records (\d+)/(\d+) \(lost (\d+), doubled (\d+)\)",
        proc.stdout,
    )
    outage_s = re.search(r"pg outage (\d+)s", proc.stdout)
    if proc.returncode != 0 or found is None:
        return {"ok": False, "tail": (proc.stdout + proc.stderr)[-1500:]}
    placed, completed, records, expected, lost, doubled = map(int, found.groups())
    return {"ok": True, "outage_s": int(outage_s.group(1)) if outage_s else None,
            "placed": placed, "completed": completed, "records": records,
            "expected": expected, "lost": lost, "doubled": doubled}  # fmt: skip


# --- in-process parts: python -m bench.cdr_bench ... ----------------------------------------


def _django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "c4router.settings")
    import django

    django.setup()


def ingest_figure(records: int, priced: bool = False) -> dict[str, Any]:
    """Queue `records` Kamailio-shaped messages (a third of them calls), then time the
    ingester storing them all. `priced`: each route carries a least-cost rule's rates and
    billing terms, each answered call is priced (and summed in the money rollups)."""
    import orjson
    import pika
    from django.conf import settings

    from routing.cdr.ingest import Ingester, declare

    queue = f"c4router.bench.ingest.{uuid.uuid4().hex[:8]}"
    url = settings.C4ROUTER_CDR["AMQP_URL"]
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    declare(channel, queue)
    t0 = time.time() - 600
    route: dict[str, Any] = {"attempt": 1, "rule": 1, "carrier": 1, "gateway": 1,
                             "to": "33612345678", "from": "33100000000"}  # fmt: skip
    if priced:
        route.update(rate="0.012500", currency="EUR", fee="0.010000", inc="30/6",
                     sell="0.030000", sfee="0.010000", sinc="60/60")  # fmt: skip
    call = {"dir": "out", "tenant": 1, "pbx": 1, "callee": "33612345678", "caller": "33100000000"}
    for index in range(records):
        start = t0 + index * 0.001
        call_id = f"bench-{index // 3}-{uuid.uuid4().hex[:6]}"
        if index % 3 == 2:
            message = {"start_time": f"{start:.3f}", "end_time": f"{start + 90:.3f}",
                       "duration": "90", "callid": call_id, "t0": f"{start:.6f}",
                       "attempts": "2", "code": "200", "reason": "OK", "tans": f"{start + 3:.6f}",
                       "t18x": f"{start + 1:.6f}", "bye": "caller", "src": "127.0.0.1",
                       "j_call": call, "j_route": route}  # fmt: skip
        else:
            message = {"time": start + 2, "callid": call_id, "sip_code": "503",
                       "sip_reason": "Service Unavailable", "attempt": str(index % 3 + 1),
                       "t0": f"{start:.6f}", "tb": f"{start + 0.01:.6f}", "src": "127.0.0.1",
                       "j_call": call, "j_route": route}  # fmt: skip
        channel.basic_publish("", queue, orjson.dumps(message))
    connection.close()
    ingester = Ingester(queue=queue, batch=1000, max_wait=0.2, log=lambda line: None)
    started = time.perf_counter()
    counts = ingester.run(drain=True, max_seconds=600)
    seconds = time.perf_counter() - started
    connection = pika.BlockingConnection(pika.URLParameters(url))
    connection.channel().queue_delete(queue)
    connection.channel().queue_delete(f"{queue}.rejected")
    connection.close()
    from routing.models import CallRecord

    CallRecord.objects.filter(call_id__startswith="bench-").delete()
    return {"records": records, "stored": counts.stored, "seconds": seconds,
            "records_per_s": counts.stored / seconds, "batches": counts.batches,
            "priced": priced}  # fmt: skip


def dashboard_figure(attempts: int) -> dict[str, Any]:
    """Rollups of a day of `attempts` attempts, and the dashboard's queries over that day."""
    from datetime import UTC, datetime, timedelta

    from django.db import connection

    from routing.cdr import rollups

    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=2)
    marker = 1_000_000  # tenant ids of the synthetic rollups (deleted afterwards)
    keys = 2000  # 50 tenants x 10 carriers x 4 gateways
    per_row = attempts / (288 * keys)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        clear(cursor, marker)
        cursor.execute(
            """
            INSERT INTO routing_trafficrollup (bucket, direction, tenant_id, carrier_id,
                gateway_id, rule_id, attempts, answered, failed_4xx, failed_5xx, failed_6xx,
                ner_ok, pdd_count, pdd_sum_ms, calls, calls_answered, duration_sum_ms,
                pdd_0, pdd_1, pdd_2, pdd_3, pdd_4, pdd_5, pdd_6, pdd_7, pdd_8, pdd_9,
                pdd_10, pdd_11)
            SELECT %s::timestamptz + b * interval '5 minutes', 'out', %s + k %% 50,
                1 + (k / 50) %% 10, 1 + k / 50, 1 + k %% 7,
                a, a * 55 / 100, a * 20 / 100, a * 20 / 100, a * 5 / 100, a * 80 / 100,
                a * 60 / 100, a * 60 / 100 * 1500, a * 6 / 10, a * 55 / 100, a * 55 / 100 * 180000,
                0, 0, 0, a / 10, a / 10, a / 10, a / 10, a / 10, a / 10, a / 10, 0, 0
            FROM generate_series(0, 287) b, generate_series(0, %s) k,
                LATERAL (SELECT (%s + ((b * 7 + k * 13) %% 5) - 2
                    + CASE WHEN (b * 2000 + k) %% 100 < %s THEN 1 ELSE 0 END)::int AS a) x
            """,
            [day, marker, keys - 1, int(per_row), round(per_row % 1 * 100)],
        )
        cursor.execute(
            """
            INSERT INTO routing_trafficcoderollup (bucket, direction, tenant_id, carrier_id,
                gateway_id, rule_id, sip_code, count)
            SELECT bucket, direction, tenant_id, carrier_id, gateway_id, rule_id, c.code,
                   attempts * c.share / 100
            FROM routing_trafficrollup,
                (VALUES (200, 55), (503, 20), (486, 15), (404, 5)) c(code, share)
            WHERE tenant_id >= %s AND bucket >= %s AND bucket < %s
            """,
            [marker, day, day + timedelta(days=1)],
        )
        # The hourly sums the ingester keeps alongside (rollups.apply), of the same rows.
        for table, keys, columns in (
            ("routing_trafficrollup", "", HOUR_COLUMNS),
            ("routing_trafficcoderollup", ", sip_code", ("count",)),
        ):
            sums = ", ".join(f"sum({c})" for c in columns)
            names = f"bucket, direction, tenant_id, carrier_id, gateway_id, rule_id{keys}"
            sql = (  # our own table and column names
                f"INSERT INTO {table}hour ({names}, {', '.join(columns)}) "  # noqa: S608
                f"SELECT date_trunc('hour', bucket), direction, tenant_id, carrier_id, "
                f"gateway_id, rule_id{keys}, {sums} FROM {table} WHERE tenant_id >= %s "
                f"GROUP BY 1, 2, 3, 4, 5, 6{', 7' if keys else ''}"
            )
            cursor.execute(sql, [marker])
        for table in ("routing_trafficrollup", "routing_trafficcoderollup"):
            cursor.execute(f"ANALYZE {table}")
            cursor.execute(f"ANALYZE {table}hour")
        cursor.execute(
            "SELECT count(*), sum(attempts) FROM routing_trafficrollup WHERE tenant_id >= %s",
            [marker],
        )
        rows, total = cursor.fetchone()
    built = time.perf_counter() - started
    end = day + timedelta(days=1)
    queries = {
        "totals (day)": lambda: rollups.totals(day, end),
        "per carrier (day: ASR, ACD, NER, PDD)": lambda: rollups.carrier_stats(day, end),
        "per carrier (last hour of it)": lambda: rollups.carrier_stats(end - timedelta(hours=1),
                                                                       end),
        "series (day, hourly steps)": lambda: rollups.series(day, end, 3600),
        "series (last 6 hours of it, 5-minute steps)": lambda: rollups.series(
            end - timedelta(hours=6), end
        ),
        "top failure codes (day)": lambda: rollups.top_codes(day, end),
        "top customers (day)": lambda: rollups.top_tenants(day, end),
        "one carrier's series (day)": lambda: rollups.series(day, end, 3600, carrier_id=3),
        "one tenant's totals (day)": lambda: rollups.totals(day, end, tenant_id=marker + 7),
    }  # fmt: skip
    timings = {}
    for name, query in queries.items():
        query()  # warm the cache: a dashboard asks the same pages again
        best = float("inf")
        for _ in range(3):
            t = time.perf_counter()
            query()
            best = min(best, time.perf_counter() - t)
        timings[name] = best
    pages = page_timings(end)
    with connection.cursor() as cursor:
        clear(cursor, marker)
    return {"attempts": int(total), "rollup_rows": rows, "built_s": built, "timings": timings,
            "slowest_s": max(timings.values()), "all_s": sum(timings.values()),
            "pages": pages, "slowest_page_s": max(pages.values())}  # fmt: skip


def page_timings(end: Any) -> dict[str, float]:
    """The admin's Traffic pages over the same day (their range ending at `end`), answered
    whole by Django (queries, template, the charts' JSON) to a logged-in staff user: the
    best of 3 after a first request. Reference: the admin's index page, same client."""
    from django.contrib.auth import get_user_model
    from django.test import Client, override_settings

    user = get_user_model().objects.create_superuser(f"bench-{uuid.uuid4().hex[:8]}")
    carrier = 3  # a carrier of the synthetic day (ids 1-10)
    tenant = 1_000_007
    query = {"end": end.isoformat()}
    pages = {
        "admin index (reference)": ("/admin/", {}),
        "Traffic, 24 hours": ("/admin/traffic/", {**query, "range": "24h"}),
        "Traffic, 6 hours": ("/admin/traffic/", {**query, "range": "6h"}),
        "Traffic, last hour": ("/admin/traffic/", {**query, "range": "1h"}),
        "a carrier, 24 hours": (f"/admin/traffic/carrier/{carrier}/", {**query, "range": "24h"}),
        "a tenant, 24 hours": (f"/admin/traffic/tenant/{tenant}/", {**query, "range": "24h"}),
    }
    timings = {}
    # The pages name carriers and tenants that exist: made for the run, deleted after.
    from routing.models import Carrier, Tenant

    made_carrier = not Carrier.objects.filter(pk=carrier).exists()
    if made_carrier:
        Carrier.objects.create(pk=carrier, name=f"bench-{uuid.uuid4().hex[:8]}")
    Tenant.objects.create(pk=tenant, name=f"bench-{uuid.uuid4().hex[:8]}")
    try:
        # Plain static storage: no collectstatic manifest needed in this process.
        with override_settings(
            ALLOWED_HOSTS=["testserver"],
            SECURE_SSL_REDIRECT=False,
            STORAGES={
                "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
                "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
            },
        ):
            client = Client()
            client.force_login(user)
            for name, (path, params) in pages.items():
                first = client.get(path, params)
                if first.status_code != 200 or (
                    path != "/admin/" and b"traffic-data" not in first.content
                ):
                    raise RuntimeError(f"{name}: HTTP {first.status_code}, no chart data")
                best = float("inf")
                for _ in range(3):
                    t = time.perf_counter()
                    client.get(path, params)
                    best = min(best, time.perf_counter() - t)
                timings[name] = best
    finally:
        user.delete()
        Tenant.objects.filter(pk=tenant).delete()
        if made_carrier:
            Carrier.objects.filter(pk=carrier).delete()
    return timings


HOUR_COLUMNS = (
    "attempts", "answered", "failed_4xx", "failed_5xx", "failed_6xx", "ner_ok", "pdd_count",
    "pdd_sum_ms", "calls", "calls_answered", "duration_sum_ms",
    *(f"pdd_{index}" for index in range(12)),
)  # fmt: skip


def clear(cursor: Any, marker: int) -> None:
    for table in ("routing_trafficrollup", "routing_trafficcoderollup",
                  "routing_trafficrolluphour", "routing_trafficcoderolluphour"):  # fmt: skip
        cursor.execute(f"DELETE FROM {table} WHERE tenant_id >= %s", [marker])  # noqa: S608


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cdr_bench")
    parser.add_argument("what", choices=("ingest", "dashboard"))
    parser.add_argument("--db", default=DB_PREFIX)
    parser.add_argument("--records", type=int, default=INGEST_RECORDS)
    parser.add_argument("--attempts", type=int, default=DAY_ATTEMPTS)
    parser.add_argument("--priced", action="store_true", help="ingest: least-cost routes")
    args = parser.parse_args(argv)
    os.environ["DATABASE_URL"] = server_url(args.db)
    _django()
    if args.what == "ingest":
        result = ingest_figure(args.records, args.priced)
    else:
        result = dashboard_figure(args.attempts)
    print("RESULT " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
