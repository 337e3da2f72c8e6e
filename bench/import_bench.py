"""How fast do CSV imports go, and how far from PostgreSQL's own ceiling?

    .venv/bin/python bench/import_bench.py [--rows 100000] [--database-url URL] [--keep]
    .venv/bin/python bench/import_bench.py --memory routes|dids [--rows 100000]

Creates a fresh database (c4router_import_bench by default; its name must contain
'import_bench', so that neither the test databases nor bench/dataset.py's are touched), migrates
it, adds a small world (tenants, PBXs, carriers, gateways), writes a route CSV and a DID CSV
of --rows lines each, and times:

- import_route_rules into an empty table (rules, their targets, and history for both);
- the same file again with mode=replace (deletes and re-creates every rule);
- the same import with django-simple-history switched off: what history costs;
- import_dids into an empty table;
- export_route_rules of the whole table;
- the reference: a raw COPY of the same rule and target rows (and DID rows) into scratch
  tables shaped like the real ones, without indexes or history: the database's ceiling.

With --memory routes (or dids), instead: the memory one import of route rules (or DIDs)
takes per line of the file, into an empty table: the peak RSS of the process above its RSS
before the import (VmHWM, reset first), then, in a second run, the peak of Python's own
allocations (tracemalloc, slower: what the import holds per row, without the allocator's
slack). One kind per process: Python keeps what the first import freed, which would hide
the second one's peak.

Prints figures; it is a benchmark, not a test (nothing is asserted).
"""

from __future__ import annotations

import argparse
import csv
import datetime
import io
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Its own database: c4router_bench belongs to the routing benchmark (bench/dataset.py).
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/c4router_import_bench"
TENANTS = 20
CARRIERS = 12
GATEWAYS_PER_CARRIER = 3


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000, help="lines per CSV file")
    parser.add_argument("--database-url", default=DEFAULT_URL, help="bench database (recreated)")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument(
        "--memory",
        choices=["routes", "dids"],
        help="measure memory per imported row (of this kind) instead",
    )
    return parser.parse_args()


def recreate_database(url: str) -> None:
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if "import_bench" not in name:
        raise SystemExit(
            f"refusing to recreate {name!r}: its name must contain 'import_bench' "
            "(this benchmark drops and recreates it)"
        )
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(url: str) -> None:
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(parts.path.lstrip("/"))
            )
        )


def setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("C4ROUTER_MODE", "dev")
    os.environ.setdefault("C4ROUTER_VAR_DIR", tempfile.mkdtemp(prefix="c4router-bench-"))
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["DJANGO_SETTINGS_MODULE"] = "c4router.settings"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def make_world() -> dict[str, Any]:
    from routing.models import Carrier, Gateway, Pbx, Tenant

    tenants = [Tenant.objects.create(name=f"Tenant {n:02d}") for n in range(TENANTS)]
    for tenant in tenants:
        Pbx.objects.create(tenant=tenant, name="main", host="192.0.2.10")
    carriers = [Carrier.objects.create(name=f"Carrier {n:02d}") for n in range(CARRIERS)]
    gateways = []
    for carrier in carriers:
        for g in range(GATEWAYS_PER_CARRIER):
            Gateway.objects.create(
                carrier=carrier, name=f"gw-{g}", host=f"198.51.100.{len(gateways) + 1}"
            )
            gateways.append((carrier.name, f"gw-{g}"))
    return {
        "tenants": [t.name for t in tenants],
        "carriers": [c.name for c in carriers],
        "gateways": gateways,
    }


def target_lists(world: dict[str, Any], rng: random.Random) -> list[str]:
    """A few dozen distinct failover lists, as a carrier price list has."""
    lists = []
    for _ in range(60):
        items = []
        carriers = rng.sample(world["carriers"], rng.randint(1, 3))
        for order, carrier in enumerate(carriers):
            if rng.random() < 0.3:
                gateway = rng.choice([g for g in world["gateways"] if g[0] == carrier])
                items.append(f"gateway:{gateway[0]}/{gateway[1]}@{order}/{rng.randint(1, 100)}")
            else:
                items.append(f"carrier:{carrier}@{order}/100")
        lists.append(";".join(items))
    return lists


def write_routes(path: Path, rows: int, world: dict[str, Any], rng: random.Random) -> None:
    lists = target_lists(world, rng)
    with path.open("w", newline="") as file:
        writer = csv.writer(file, lineterminator="\n")
        writer.writerow(
            [
                "tenant",
                "name",
                "prefix",
                "caller_prefix",
                "priority",
                "enabled",
                "weekdays",
                "start_time",
                "end_time",
                "timezone",
                "targets",
            ]
        )
        for n in range(rows):
            tenant = rng.choice(world["tenants"]) if rng.random() < 0.2 else ""
            window = (
                ("12345", "08:00", "18:00", "Europe/Paris") if n % 10 == 0 else ("", "", "", "")
            )
            writer.writerow(
                [
                    tenant,
                    "",
                    f"{rng.choice(['1', '33', '44', '49'])}{n:07d}",
                    "",
                    rng.choice([10, 100]),
                    "true",
                    window[0],
                    window[1],
                    window[2],
                    window[3] or "UTC",
                    rng.choice(lists),
                ]
            )


def write_dids(path: Path, rows: int, world: dict[str, Any], rng: random.Random) -> None:
    with path.open("w", newline="") as file:
        writer = csv.writer(file, lineterminator="\n")
        writer.writerow(["tenant", "number", "match", "range_end", "pbx", "description", "enabled"])
        for n in range(rows):
            tenant = world["tenants"][n % len(world["tenants"])]
            start = 33100000000 + n * 100  # ranges of 100 numbers never overlap
            if n % 20 == 0:
                writer.writerow([tenant, start, "range", start + 99, "main", "", "true"])
            else:
                writer.writerow([tenant, start, "exact", "", "main", "", "true"])


class PhaseTimer:
    """A tqdm-like progress wrapper that records how long each phase takes."""

    def __init__(self) -> None:
        self.phases: dict[str, float] = {}

    def __call__(self, iterable: Iterable[Any], desc: str = "", **kwargs: Any) -> Iterator[Any]:
        start = time.perf_counter()
        yield from iterable
        self.phases[desc] = self.phases.get(desc, 0.0) + time.perf_counter() - start

    def __str__(self) -> str:
        return ", ".join(f"{name} {seconds:.1f}s" for name, seconds in self.phases.items())


@contextmanager
def timed(label: str, rows: int, results: list[tuple[str, int, float]]) -> Iterator[None]:
    start = time.perf_counter()
    yield
    seconds = time.perf_counter() - start
    results.append((label, rows, seconds))
    print(
        f"{label:<52} {rows:>8} rows {seconds:>7.2f} s {rows / seconds:>10,.0f} rows/s", flush=True
    )


def run_import(importer: Callable[..., Any], path: Path, **kwargs: Any) -> tuple[Any, PhaseTimer]:
    timer = PhaseTimer()
    with path.open(newline="", encoding="utf-8") as file:
        result = importer(file, progress=timer, **kwargs)
    return result, timer


def copy_reference(
    url: str, routes: Path, dids: Path, results: list[tuple[str, int, float]]
) -> None:
    """COPY the same rule, target and DID rows into look-alike scratch tables."""
    import psycopg

    from routing.models import Carrier, Gateway, Pbx, Tenant

    tenants = dict(Tenant.objects.values_list("name", "id"))
    carriers = dict(Carrier.objects.values_list("name", "id"))
    gateways = {
        (c, n): pk for c, n, pk in Gateway.objects.values_list("carrier__name", "name", "id")
    }
    pbxs = {(t, n): pk for t, n, pk in Pbx.objects.values_list("tenant__name", "name", "id")}

    now = datetime.datetime.now(datetime.UTC)
    rule_rows, target_rows = [], []
    with routes.open(newline="") as file:
        for n, row in enumerate(csv.DictReader(file), start=1):
            rule_rows.append(
                (
                    n,
                    row["name"],
                    tenants.get(row["tenant"]),
                    row["prefix"],
                    row["caller_prefix"],
                    int(row["priority"]),
                    True,
                    row["weekdays"],
                    row["start_time"] or None,
                    row["end_time"] or None,
                    row["timezone"],
                    "",
                    "",
                    "",
                    "",
                    now,
                    now,
                )
            )
            for item in row["targets"].split(";"):
                kind, _, rest = item.partition(":")
                name, _, numbers = rest.partition("@")
                order, _, weight = numbers.partition("/")
                carrier_id = carriers[name] if kind == "carrier" else None
                gateway_id = gateways[tuple(name.split("/"))] if kind == "gateway" else None
                target_rows.append((n, int(order), carrier_id, gateway_id, int(weight)))
    did_rows = []
    with dids.open(newline="") as file:
        for row in csv.DictReader(file):
            did_rows.append(
                (
                    tenants[row["tenant"]],
                    pbxs[(row["tenant"], row["pbx"])],
                    row["number"],
                    row["match"],
                    row["range_end"],
                    True,
                    row["description"],
                    now,
                    now,
                )
            )

    rule_cols = (
        "id, name, tenant_id, prefix, caller_prefix, priority, enabled, weekdays, "
        "start_time, end_time, timezone, caller_id, from_display, extra_headers, "
        "description, created_at, updated_at"
    )
    target_cols = 'rule_id, "order", carrier_id, gateway_id, weight'
    did_cols = (
        "tenant_id, pbx_id, number, match, range_end, enabled, description, created_at, updated_at"
    )
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        # Same columns, types, checks and indexes as the real tables (no foreign keys).
        for table in ("routerule", "routetarget", "did"):
            cur.execute(f"CREATE TABLE ref_{table} (LIKE routing_{table} INCLUDING ALL)")
        conn.commit()
        with timed("reference: COPY rules + targets (no history)", len(rule_rows), results):
            with cur.copy(f"COPY ref_routerule ({rule_cols}) FROM STDIN") as copy:
                for rule in rule_rows:
                    copy.write_row(rule)
            with cur.copy(f"COPY ref_routetarget ({target_cols}) FROM STDIN") as copy:
                for target in target_rows:
                    copy.write_row(target)
            conn.commit()
        with timed("reference: COPY DIDs (no history)", len(did_rows), results):
            with cur.copy(f"COPY ref_did ({did_cols}) FROM STDIN") as copy:
                for did in did_rows:
                    copy.write_row(did)
            conn.commit()
        for table in ("routerule", "routetarget", "did"):
            cur.execute(f"DROP TABLE ref_{table}")
        conn.commit()


def _rss_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _truncate_imported() -> None:
    from django.db import connection

    from routing.models import Did, RouteRule, RouteTarget

    tables = [RouteTarget, RouteRule, Did]
    tables += [m.history.model for m in tables]  # type: ignore[attr-defined]
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(m._meta.db_table for m in tables)}")


def measure_memory(kind: str, rows: int, routes: Path, dids: Path) -> None:
    """Peak memory of one import per row: RSS (VmHWM) and Python's allocations (tracemalloc)."""
    import gc
    import tracemalloc

    from routing import imports

    for label, importer, path in (
        ("route rules", imports.import_route_rules, routes),
        ("DIDs", imports.import_dids, dids),
    ):
        if label != {"routes": "route rules", "dids": "DIDs"}[kind]:
            continue
        _truncate_imported()
        gc.collect()
        Path("/proc/self/clear_refs").write_text("5")  # VmHWM starts over from VmRSS
        before = _rss_kb("VmRSS")
        started = time.perf_counter()
        with path.open(newline="", encoding="utf-8") as file:
            importer(file)
        seconds = time.perf_counter() - started
        peak = _rss_kb("VmHWM")
        print(
            f"{label:<12} RSS: {before / 1024:.0f} MB before, peak {peak / 1024:.0f} MB: "
            f"+{(peak - before) / 1024:.0f} MB, {(peak - before) * 1024 / rows:,.0f} B per row "
            f"({seconds:.1f} s)",
            flush=True,
        )
        _truncate_imported()
        gc.collect()
        tracemalloc.start()
        base, _ = tracemalloc.get_traced_memory()
        with path.open(newline="", encoding="utf-8") as file:
            importer(file)
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(
            f"{label:<12} tracemalloc peak: +{(top - base) / 1e6:.0f} MB, "
            f"{(top - base) / rows:,.0f} B per row",
            flush=True,
        )


def main() -> None:
    args = parse_args()
    if args.memory:
        print(f"c4router import memory: {args.rows:,} lines per file, database {args.database_url}")
        recreate_database(args.database_url)
        setup_django(args.database_url)
        from django.db import connection

        rng = random.Random(42)
        world = make_world()
        with tempfile.TemporaryDirectory(prefix="c4router-bench-") as tmp:
            routes, dids = Path(tmp) / "routes.csv", Path(tmp) / "dids.csv"
            write_routes(routes, args.rows, world, rng)
            write_dids(dids, args.rows, world, rng)
            print(
                f"files: routes {routes.stat().st_size / 1e6:.1f} MB, "
                f"DIDs {dids.stat().st_size / 1e6:.1f} MB"
            )
            measure_memory(args.memory, args.rows, routes, dids)
        connection.close()
        if not args.keep:
            drop_database(args.database_url)
        return
    print(f"c4router import benchmark: {args.rows:,} lines per file, database {args.database_url}")
    recreate_database(args.database_url)
    setup_django(args.database_url)
    from django.db import connection
    from django.test.utils import override_settings

    from routing import imports
    from routing.models import Did, RouteRule, RouteTarget

    rng = random.Random(42)
    world = make_world()
    results: list[tuple[str, int, float]] = []
    with tempfile.TemporaryDirectory(prefix="c4router-bench-") as tmp:
        routes, dids = Path(tmp) / "routes.csv", Path(tmp) / "dids.csv"
        write_routes(routes, args.rows, world, rng)
        write_dids(dids, args.rows, world, rng)
        print(
            f"files: routes {routes.stat().st_size / 1e6:.1f} MB, "
            f"DIDs {dids.stat().st_size / 1e6:.1f} MB\n"
        )

        with timed("import_route_rules, add, with history", args.rows, results):
            result, timer = run_import(imports.import_route_rules, routes)
        print(f"    {result.created:,} rules, {result.targets_created:,} targets; {timer}")

        with timed("import_route_rules, replace all, with history", args.rows, results):
            result, timer = run_import(imports.import_route_rules, routes, mode=imports.REPLACE)
        print(f"    deleted {result.deleted:,}, created {result.created:,}; {timer}")

        out = io.StringIO()
        with timed("export_route_rules", args.rows, results):
            imports.export_route_rules(out)

        with connection.cursor() as cursor:
            tables = [RouteTarget, RouteRule, RouteTarget.history.model, RouteRule.history.model]
            cursor.execute(f"TRUNCATE {', '.join(m._meta.db_table for m in tables)}")
        with (
            override_settings(SIMPLE_HISTORY_ENABLED=False),
            timed("import_route_rules, add, history off (comparison)", args.rows, results),
        ):
            result, timer = run_import(imports.import_route_rules, routes)
        print(f"    {timer}")

        with timed("import_dids, add, with history", args.rows, results):
            result, timer = run_import(imports.import_dids, dids)
        print(f"    {result.created:,} DIDs; {timer}")
        assert Did.objects.count() == args.rows

        print()
        copy_reference(args.database_url, routes, dids, results)

    by_label = {label: seconds for label, _, seconds in results}
    rules = by_label["import_route_rules, add, with history"]
    rules_reference = by_label["reference: COPY rules + targets (no history)"]
    dids_seconds = by_label["import_dids, add, with history"]
    dids_reference = by_label["reference: COPY DIDs (no history)"]
    no_history = by_label["import_route_rules, add, history off (comparison)"]
    print()
    print(
        f"route rules: {rules:.1f} s, {rules / rules_reference:.1f}x the COPY of the same rows; "
        f"history adds {rules - no_history:.1f} s ({(rules - no_history) / rules:.0%})"
    )
    print(f"DIDs:        {dids_seconds:.1f} s, {dids_seconds / dids_reference:.1f}x the COPY")
    connection.close()
    if not args.keep:
        drop_database(args.database_url)


if __name__ == "__main__":
    main()
