"""Routing latency while an admin exports or imports on the same host (issue 11, finding 6).

c4router (gunicorn -w 2, production settings, the 100k data set) under a steady routing
load (wrk, CONNECTIONS connections each waiting PAUSE_MS between requests: about 1,000
queries/s, twice the 500 calls/s the design is sized for), three rounds of the same length:

- alone;
- while an admin exports every route rule through the API (GET /api/v1/route-rules/export/,
  streamed), one export after the other until the round ends;
- while an admin imports IMPORT_ROWS route rules through the API (POST .../import/, mode
  replace-scope into a tenant of its own, so that each import replaces the last), one after
  the other; each import is also patched into both workers' tables meanwhile. The imports
  run in child processes at low priority (routing/import_process.py): their pids, nice
  value and CPU come from the server's log;
- the reference, in the same run: the same import round on a second server whose imports
  run in the serving workers (C4ROUTER_IMPORT_CHILD=0, as before the child processes).

Per round: wrk's p50/p99/max; the exports' and imports' count, time and size; and the
workers' RSS before the export round, their peak during it (VmHWM, reset first) and after
it: what an export costs a worker's memory.

The database steps run in a subprocess, as bench.dataset's do:
    python -m bench.admin_load setup --db c4router_bench     (a user, its token, the tenant)
    python -m bench.admin_load cleanup --db c4router_bench   (all of it, and its rules)
Cleanup leaves the bench database as it found it (bench.dataset checks its row counts).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from bench import procs
from bench.dataset import DB_PREFIX, TOKEN, _setup_django
from bench.procs import CONFIGS, WrkResult

if TYPE_CHECKING:
    from bench.main import Bench

DB = DB_PREFIX  # the 100k data set
USER = "bench-admin-load"
TENANT = "bench admin load"
IMPORT_ROWS = 10_000
CONNECTIONS = 16
PAUSE_MS = 16
TARGET_P99_MS = 10.0


# ------------------------------------------------------------------------------------------
# the section


def run(bench: Bench, *, quick: bool) -> dict[str, Any]:
    seconds = 8.0 if quick else 20.0
    info = bench.result_of(bench.python("-m", "bench.admin_load", "setup", "--db", DB, timeout=120))
    csv_path = bench.work / "admin-load-import.csv"
    write_import_csv(csv_path, info["carrier"])
    server = bench.server("c4router", CONFIGS[0], DB)
    # The admin and the API over plain HTTP on 127.0.0.1 (no TLS proxy in front here).
    server.env["SECURE_SSL_REDIRECT"] = "0"
    headers = {"Authorization": f"Token {info['token']}"}
    pool = bench.pools[DB]
    out: dict[str, Any] = {
        "connections": CONNECTIONS,
        "pause_ms": PAUSE_MS,
        "seconds": seconds,
        "rules": info["rules"],
        "import_rows": IMPORT_ROWS,
    }
    try:
        with server:
            say(
                f"  c4router ({CONFIGS[0].label}) ready; routing load: wrk {CONNECTIONS} "
                f"connections, {PAUSE_MS} ms between requests, {seconds:g}s per round"
            )
            _round(server, pool, 2.0, None)  # warm-up
            # The API's first request in a worker imports DRF and the API's modules (about
            # 20 MB): done here, on several connections so that both workers get some, so
            # that the RSS figures below are about the exports themselves.
            for _ in range(8):
                httpx.get(
                    f"{server.url}/api/v1/route-rules/?limit=1", headers=headers, timeout=30
                ).raise_for_status()
            alone, _ = _round(server, pool, seconds, None)
            out["alone"] = alone.as_dict()
            say(f"    alone: {wrk_text(alone)}")

            pids = server.worker_pids()
            out["rss_before_mb"] = [procs.memory_mb(pid).get("VmRSS", 0) for pid in pids]
            for pid in pids:  # VmHWM starts over from VmRSS: the peak of the export round
                Path(f"/proc/{pid}/clear_refs").write_text("5")
            export, exports = _round(
                server, pool, seconds, lambda: export_once(server.url, headers)
            )
            memory = [procs.memory_mb(pid) for pid in pids]
            out["export_peak_mb"] = [m.get("VmHWM", 0) for m in memory]
            out["rss_after_mb"] = [m.get("VmRSS", 0) for m in memory]
            out["export"] = {**export.as_dict(), "runs": exports}
            say(f"    during exports: {wrk_text(export)}; {runs_text(exports, 'export')}")
            say(
                "    worker RSS before the exports "
                + ", ".join(f"{x:.0f}" for x in out["rss_before_mb"])
                + " MB, peak during them "
                + ", ".join(f"{x:.0f}" for x in out["export_peak_mb"])
                + " MB, after "
                + ", ".join(f"{x:.0f}" for x in out["rss_after_mb"])
                + " MB"
            )

            data = csv_path.read_bytes()
            imported, imports = _round(
                server, pool, seconds, lambda: import_once(server.url, headers, data)
            )
            out["import"] = {**imported.as_dict(), "runs": imports}
            out["table_updates"] = [f"{k} {s:.2f}s" for k, s in server.table_updates()]
            out["children"] = import_children(server.log_text())
            say(f"    during imports: {wrk_text(imported)}; {runs_text(imports, 'import')}")
            say(f"      {children_text(out['children'])}; {patches_text(server)}")
        # The reference, same run: the same imports in the serving workers, as before
        # imports had a process of their own (C4ROUTER_IMPORT_CHILD=0).
        inline = bench.server("c4router", CONFIGS[0], DB)
        inline.env.update(server.env)
        inline.env["C4ROUTER_IMPORT_CHILD"] = "0"
        with inline:
            _round(inline, pool, 2.0, None)  # warm-up
            for _ in range(8):
                httpx.get(
                    f"{inline.url}/api/v1/route-rules/?limit=1", headers=headers, timeout=30
                ).raise_for_status()
            reference, ref_imports = _round(
                inline, pool, seconds, lambda: import_once(inline.url, headers, data)
            )
            out["import_in_workers"] = {**reference.as_dict(), "runs": ref_imports}
            say(
                f"    reference, imports in the serving workers (C4ROUTER_IMPORT_CHILD=0): "
                f"{wrk_text(reference)}; {runs_text(ref_imports, 'import')}; {patches_text(inline)}"
            )
    finally:
        bench.python("-m", "bench.admin_load", "cleanup", "--db", DB, timeout=300)
    return out


def _round(
    server: procs.Server, pool: Path, seconds: float, action: Callable[[], dict[str, Any]] | None
) -> tuple[WrkResult, list[dict[str, Any]]]:
    """wrk for `seconds`; meanwhile `action` again and again (in a thread) until it ends."""
    runs: list[dict[str, Any]] = []
    stop = threading.Event()

    def repeat() -> None:
        assert action is not None
        while not stop.is_set():
            try:
                runs.append(action())
            except httpx.HTTPError as exc:
                runs.append({"error": f"{type(exc).__name__}: {exc}"})
                return

    wrk = procs.start_wrk(server.url, pool, TOKEN, CONNECTIONS, seconds, PAUSE_MS)
    thread = threading.Thread(target=repeat, daemon=True) if action else None
    if thread is not None:
        thread.start()
    try:
        time.sleep(seconds)
    finally:
        stop.set()
        result = procs.finish_wrk(wrk, timeout=30)
        if thread is not None:
            thread.join(timeout=300)  # an export or import under way finishes first
    return result, runs


def export_once(url: str, headers: dict[str, str]) -> dict[str, Any]:
    started = time.perf_counter()
    size = lines = 0
    with (
        httpx.Client(base_url=url, timeout=120) as client,
        client.stream("GET", "/api/v1/route-rules/export/", headers=headers) as response,
    ):
        for chunk in response.iter_bytes():
            size += len(chunk)
            lines += chunk.count(b"\n")
    return {
        "status": response.status_code,
        "seconds": time.perf_counter() - started,
        "bytes": size,
        "rows": max(lines - 1, 0),
    }


def import_once(url: str, headers: dict[str, str], data: bytes) -> dict[str, Any]:
    started = time.perf_counter()
    response = httpx.post(
        f"{url}/api/v1/route-rules/import/",
        headers=headers,
        files={"file": ("admin-load.csv", data, "text/csv")},
        data={"mode": "replace-scope"},
        timeout=120,
    )
    body = response.json() if response.headers.get("content-type", "").startswith("appl") else {}
    return {
        "status": response.status_code,
        "seconds": time.perf_counter() - started,
        "rows": body.get("created", 0),
        "error": None if response.status_code == 200 else response.text[:300],
    }


CHILD_LINE = re.compile(
    r"c4router\.imports import of \S+ by \w+: [\w ]+ in pid (\d+) at nice (\d+), "
    r"([0-9.]+) s CPU, ([0-9.]+) s in all(?:; its database backend ([^\n]*))?"
)


def import_children(log: str) -> list[dict[str, Any]]:
    """The import processes the server's log reports (routing/import_process.py)."""
    return [
        {
            "pid": int(m[1]),
            "nice": int(m[2]),
            "cpu_s": float(m[3]),
            "seconds": float(m[4]),
            "backend": m[5] or "",
        }
        for m in CHILD_LINE.finditer(log)
    ]


def children_text(children: list[dict[str, Any]]) -> str:
    if not children:
        return "no import process in the log: the imports ran in the serving workers"
    nices = sorted({c["nice"] for c in children})
    backend = children[-1]["backend"] or "not PostgreSQL"
    cpu = statistics.median(c["cpu_s"] for c in children)
    return (
        f"{len(children)} import processes (pids {children[0]['pid']}..), nice "
        f"{'/'.join(map(str, nices))}, {cpu:.2f} s CPU each (median); their PostgreSQL "
        f"backend: {backend.split(' (')[0]}"
    )


def patches_text(server: procs.Server) -> str:
    patched = [s for kind, s in server.table_updates() if kind == "patched"]
    if not patched:
        return "no table patch logged"
    return (
        f"the workers' table patches: {len(patched)}, "
        f"{statistics.median(patched) * 1000:.0f} ms each (median)"
    )


def write_import_csv(path: Path, carrier: str) -> None:
    escaped = re.sub(r"([\\;@/])", r"\\\1", carrier)  # as routing.imports.escape_name
    lines = ["tenant,prefix,priority,targets"]
    target = f"carrier:{escaped}@0/100"
    lines += [f"{TENANT},88{n:06d},100,{target}" for n in range(IMPORT_ROWS)]
    path.write_text("\n".join(lines) + "\n")


def wrk_text(result: WrkResult) -> str:
    return (
        f"{result.rps:,.0f} req/s, p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms, "
        f"max {result.max_ms:.0f} ms, errors {result.errors} (non-2xx {result.non2xx}, "
        f"socket {result.socket_errors}, of which timeouts {result.timeouts})"
    )


def runs_text(runs: list[dict[str, Any]], noun: str) -> str:
    done = [r for r in runs if r.get("status") == 200]
    failed = len(runs) - len(done)
    if not done:
        return f"no {noun} finished" + (f" ({runs[0]})" if runs else "")
    seconds = statistics.median(r["seconds"] for r in done)
    rows = done[0]["rows"]
    size = f", {done[0]['bytes'] / 1e6:.1f} MB" if "bytes" in done[0] else ""
    return f"{len(done)} {noun}s of {rows:,} rules{size}, {seconds:.1f} s each (median)" + (
        f", {failed} failed: {runs[-1]}" if failed else ""
    )


def say(text: str) -> None:
    print(text, flush=True)


def summary_lines(result: dict[str, Any]) -> tuple[list[str], float | None]:
    """The summary's lines for this section, and the worst p99 under admin load."""
    alone, export, imported = result["alone"], result["export"], result["import"]
    exports = [r for r in export["runs"] if r.get("status") == 200]
    imports = [r for r in imported["runs"] if r.get("status") == 200]
    rules = exports[0]["rows"] if exports else result["rules"]
    reference = result.get("import_in_workers")
    lines = [
        f"admin load: routing p99 {alone['p99_ms']:.1f} ms alone, {export['p99_ms']:.1f} ms "
        f"during export of {rules / 1000:.0f}k rules, {imported['p99_ms']:.1f} ms during "
        f"import of {result['import_rows'] / 1000:.0f}k rules (target < {TARGET_P99_MS:g} ms)"
        + (
            f"; reference: {reference['p99_ms']:.1f} ms with the imports in the serving workers"
            if reference
            else ""
        ),
        f"  routing load: {result['connections']} connections, {result['pause_ms']} ms between "
        f"requests ({alone['rps']:,.0f} req/s alone, {export['rps']:,.0f} during exports, "
        f"{imported['rps']:,.0f} during imports); max {alone['max_ms']:.0f} / "
        f"{export['max_ms']:.0f} / {imported['max_ms']:.0f} ms; errors "
        f"{alone['errors'] + export['errors'] + imported['errors']} (of which no answer "
        f"within 2 s: {alone['timeouts'] + export['timeouts'] + imported['timeouts']})",
        f"  {runs_text(export['runs'], 'export')}; {runs_text(imported['runs'], 'import')}",
        f"  {children_text(result.get('children', []))}",
        "  worker RSS before the exports "
        + ", ".join(f"{x:.0f}" for x in result["rss_before_mb"])
        + " MB, peak during them "
        + ", ".join(f"{x:.0f}" for x in result["export_peak_mb"])
        + " MB, after them "
        + ", ".join(f"{x:.0f}" for x in result["rss_after_mb"])
        + " MB",
    ]
    worst = max(export["p99_ms"], imported["p99_ms"]) if exports and imports else None
    return lines, worst


# ------------------------------------------------------------------------------------------
# database steps (subprocess)


def setup(db: str) -> dict[str, Any]:
    _setup_django(db)
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from routing.models import Carrier, RouteRule, Tenant

    user, _ = get_user_model().objects.get_or_create(username=USER)
    user.is_staff = user.is_superuser = True
    user.set_unusable_password()
    user.save()
    token, _ = Token.objects.get_or_create(user=user)
    Tenant.objects.get_or_create(name=TENANT)
    return {
        "token": token.key,
        "carrier": Carrier.objects.order_by("id").values_list("name", flat=True).first(),
        "rules": RouteRule.objects.count(),
    }


def cleanup(db: str) -> dict[str, Any]:
    """Remove the section's tenant, its rules (and their history) and its user."""
    _setup_django(db)
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from routing.models import RouteRule, RouteTarget, Tenant, bump_routing_version

    deleted = 0
    with transaction.atomic():
        tenant = Tenant.objects.filter(name=TENANT).first()
        if tenant is not None:
            rules = RouteRule._meta.db_table
            targets = RouteTarget._meta.db_table
            rule_history = RouteRule.history.model._meta.db_table  # type: ignore[attr-defined]
            target_history = RouteTarget.history.model._meta.db_table  # type: ignore[attr-defined]
            # Table names from the models' meta; the tenant id is a parameter.
            with connection.cursor() as cursor:
                cursor.execute(
                    f"DELETE FROM {targets} WHERE rule_id IN "  # noqa: S608
                    f"(SELECT id FROM {rules} WHERE tenant_id = %s)",
                    [tenant.pk],
                )
                cursor.execute(
                    f"DELETE FROM {target_history} WHERE rule_id IN "  # noqa: S608
                    f"(SELECT id FROM {rule_history} WHERE tenant_id = %s)",
                    [tenant.pk],
                )
                cursor.execute(f"DELETE FROM {rules} WHERE tenant_id = %s", [tenant.pk])  # noqa: S608
                deleted = cursor.rowcount
                cursor.execute(f"DELETE FROM {rule_history} WHERE tenant_id = %s", [tenant.pk])  # noqa: S608
            tenant.delete()
            Tenant.history.filter(name=TENANT).delete()  # type: ignore[attr-defined]
            bump_routing_version(changed=None)
        get_user_model().objects.filter(username=USER).delete()
    return {"deleted_rules": deleted}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.admin_load")
    parser.add_argument("step", choices=["setup", "cleanup"])
    parser.add_argument("--db", required=True)
    args = parser.parse_args(argv)
    result = setup(args.db) if args.step == "setup" else cleanup(args.db)
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
