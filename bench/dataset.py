"""The benchmark data set: a realistic routing database, built in its own PostgreSQL database.

Run as a subprocess by bench/run, with DATABASE_URL naming the bench database:

    python -m bench.dataset ensure --db c4router_bench --prefixes 100000 [--rebuild]
    python -m bench.dataset set-gateways --db c4router_bench --fail-port P --ok-port Q
    python -m bench.dataset set-limits --db c4router_bench [--calls N] [--cps N]
    python -m bench.dataset set-rule-mode --db c4router_bench --mode lcr|priority
    python -m bench.dataset probe-changes --db c4router_bench   (reads "change" lines)

What `ensure` builds (seeded, so two builds with the same parameters are identical):
- 10 carriers with 4 gateways each (198.19.0.0/16, RFC 2544's benchmarking range: no packet
  is ever sent there, the addresses only travel inside routing answers), some with a
  from-domain, P-Asserted-Identity, extra headers, a tech prefix or their own timers;
- 50 tenants with 2 PBXs and a SIP domain each;
- 1,000 IP sources: 10 /29 networks per carrier, 8 host addresses and one /28 per PBX
  (198.18.0.0/16);
- normalization rules: 3 per carrier (national and 00 formats in, the carrier's format
  out), 3 per PBX;
- N distinct destination prefixes as global route rules (real country codes plus 1-6
  digits), and on top of them variants: 5% tenant overrides, 1% caller-prefix rules, 2%
  office-hours rules (Mon-Fri 08:00-18:00 Europe/Paris), 0.5% night rules spanning midnight;
  each rule has 1-3 failover orders, each a gateway, a whole carrier or an equal-order
  weighted pair;
- M DIDs: 95% exact numbers, 3% ranges of 100 numbers, 2% prefixes;
- a RouterInstance whose token is TOKEN;
- what the other bench sections need: a reload-probe rule (PROBE_PREFIX), two carriers
  played by SIPp (503 then 200) behind KAMAILIO_PREFIX, and a PBX for 127.0.0.1/32.

The small tables go through the ORM's bulk_create, the big ones (rules, targets, DIDs)
through COPY; no history rows are written (bench data needs no audit). The routing version
is bumped once at the end. A bench_meta table remembers the parameters: `ensure` reuses a
database built with the same ones.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import os
import random
import sys
import time
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

# BENCH_DB_PREFIX=c4router_bench_mine: databases of one's own, when several checkouts bench
# on one PostgreSQL at the same time (a section that changes rows would make another run's
# `ensure` rebuild a shared one). It must start with c4router_bench: nothing else is touched.
DB_PREFIX = os.environ.get("BENCH_DB_PREFIX", "c4router_bench")
if not DB_PREFIX.startswith("c4router_bench"):
    raise SystemExit(f"BENCH_DB_PREFIX={DB_PREFIX!r}: bench databases are c4router_bench*")
TOKEN = "bench-token-6f1c2d0a9b8e4f7a"  # noqa: S105 - a benchmark's fixed token
PROBE_PREFIX = "99998"
KAMAILIO_PREFIX = "99999"
GENERATOR_VERSION = 3  # bump when the generator below changes what it writes

# E.164 country codes the prefixes start with (never 80 nor 99: those make the misses and
# the harness prefixes).
COUNTRY_CODES = (
    "1", "7", "20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44",
    "45", "46", "47", "48", "49", "51", "52", "53", "54", "55", "56", "57", "58", "60", "61",
    "62", "63", "64", "65", "66", "81", "82", "84", "86", "90", "91", "92", "93", "94", "95",
    "212", "213", "216", "221", "225", "234", "237", "254", "351", "352", "353", "354",
    "355", "356", "357", "358", "359", "370", "371", "372", "380", "381", "385", "386",
    "420", "421", "852", "880", "886", "966", "971", "972", "974",
)  # fmt: skip
CARRIER_NAMES = (
    "Alpha Telecom", "Beta Voice", "Gamma Networks", "Delta Connect", "Epsilon Carrier",
    "Zeta Telecom", "Eta Voice", "Theta Link", "Iota Telecom", "Kappa Voice",
)  # fmt: skip
# DID number blocks: (start, digits after it) -> E.164 numbers of realistic lengths.
DID_BLOCKS = (("331", 8), ("334", 8), ("339", 8), ("4930", 8), ("4420", 8), ("1212", 7))
DID_RANGE_BLOCK = "3397"  # ranges of 100 numbers: 3397 + 5 digits + 00..99
DID_PREFIX_BLOCK = "4989"  # prefixes: 4989 + 3 or 4 digits


# (order, weight, carrier id, gateway id) of one route target
Target = tuple[int, int, int | None, int | None]


@dataclasses.dataclass(frozen=True)
class Params:
    prefixes: int = 100_000
    dids: int = 100_000
    tenants: int = 50
    pbxs_per_tenant: int = 2
    carriers: int = 10
    gateways_per_carrier: int = 4
    seed: int = 6
    generator: int = GENERATOR_VERSION

    def as_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)


# ------------------------------------------------------------------------------------------
# Database creation (plain psycopg on the maintenance database: Django is not set up yet)


def check_db_name(name: str) -> None:
    if not name.startswith(DB_PREFIX):
        raise SystemExit(f"refusing to touch database {name!r}: bench databases are {DB_PREFIX}*")


def server_url(db: str) -> str:
    base = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432")
    return f"{base.rstrip('/')}/{db}"


def create_database(name: str, *, rebuild: bool) -> None:
    import psycopg

    check_db_name(name)
    with psycopg.connect(server_url("postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists and rebuild:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            exists = None
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


# ------------------------------------------------------------------------------------------
# Generation


def _digits(rng: random.Random, count: int) -> str:
    return "".join(rng.choices("0123456789", k=count))


def unique_prefixes(rng: random.Random, count: int) -> list[str]:
    seen: set[str] = set()
    out: list[str] = []
    lengths = (1, 2, 3, 4, 5, 6)
    weights = (4, 16, 34, 28, 12, 6)
    while len(out) < count:
        prefix = rng.choice(COUNTRY_CODES) + _digits(rng, rng.choices(lengths, weights)[0])
        if prefix not in seen:
            seen.add(prefix)
            out.append(prefix)
    return out


def _copy_text(value: Any) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    text = str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def copy_rows(table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """COPY rows into a table in text format, in chunks of about 8 MB."""
    from django.db import connection

    count = 0
    quoted = ", ".join(f'"{column}"' for column in columns)
    with connection.cursor() as cursor:
        raw = cursor.cursor  # the psycopg cursor
        with raw.copy(f"COPY {table} ({quoted}) FROM STDIN") as copy:
            buffer = io.StringIO()
            for row in rows:
                buffer.write("\t".join(_copy_text(value) for value in row))
                buffer.write("\n")
                count += 1
                if buffer.tell() > 8_000_000:
                    copy.write(buffer.getvalue())
                    buffer = io.StringIO()
            copy.write(buffer.getvalue())
        cursor.execute(  # table: one of ours, not user input
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
            f"COALESCE((SELECT MAX(id) FROM {table}), 1))"
        )
    return count


class Builder:
    def __init__(self, params: Params, log: Any = print) -> None:
        self.p = params
        self.rng = random.Random(params.seed)
        self.log = log
        self.now = datetime.now().astimezone()

    def build(self) -> dict[str, int]:
        from django.db import transaction

        from routing.models import bump_routing_version

        with transaction.atomic():
            self._small_tables()
            rules, targets = self._rules()
            dids = self._dids()
            bump_routing_version()
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        return {"rules": rules, "targets": targets, "dids": dids}

    # -- carriers, customers, sources, normalization, instance --------------------------------
    def _small_tables(self) -> None:
        from routing.models import (
            Carrier,
            Domain,
            Gateway,
            IpSource,
            NormalizationRule,
            Pbx,
            RouterInstance,
            Tenant,
        )

        p = self.p
        names = [
            CARRIER_NAMES[i] if i < len(CARRIER_NAMES) else f"Carrier {i + 1:02d}"
            for i in range(p.carriers)
        ]
        carriers = Carrier.objects.bulk_create(
            Carrier(
                name=name,
                from_domain=f"sip.{name.split()[0].lower()}.example" if i % 2 == 0 else "",
                send_pai=i % 3 == 0,
                extra_headers=f"X-Account: {1000 + i}" if i in (1, 5) else "",
            )
            for i, name in enumerate(names)
        )
        gateways = []
        for ci, carrier in enumerate(carriers):
            for gi in range(p.gateways_per_carrier):
                gateways.append(
                    Gateway(
                        carrier=carrier,
                        name=f"{carrier.name.split()[0].lower()}-{gi + 1}",
                        host=f"198.19.{ci}.{gi + 1}",
                        weight=100 if gi < 2 else 50,
                        prefix="1234#" if ci == 2 else "",
                        fr_timer=3000 if ci == 4 else None,
                    )
                )
        self.gateways = Gateway.objects.bulk_create(gateways)
        self.carriers = carriers
        self.gateways_of: dict[int, list[Any]] = {}
        for gateway in self.gateways:
            self.gateways_of.setdefault(gateway.carrier_id, []).append(gateway)

        # SIPp plays two carriers in the Kamailio section: the first answers 503, the second
        # 200. Their ports are set when SIPp starts (set-gateways).
        sipp_fail = Carrier.objects.create(name="SIPp 503", description="bench harness")
        sipp_ok = Carrier.objects.create(name="SIPp 200", description="bench harness")
        self.sipp_gateways = [
            Gateway.objects.create(carrier=sipp_fail, name="uas-503", host="127.0.0.1", port=9),
            Gateway.objects.create(carrier=sipp_ok, name="uas-200", host="127.0.0.1", port=10),
        ]

        tenants = Tenant.objects.bulk_create(
            Tenant(name=f"Tenant {t + 1:02d}") for t in range(p.tenants)
        )
        pbxs = Pbx.objects.bulk_create(
            Pbx(
                tenant=tenant,
                name=f"pbx-{chr(ord('a') + k)}",
                host=f"198.18.{t + 1}.{k * 16 + 1}",
                fr_inv_timer=60000 if k == 1 else None,
            )
            for t, tenant in enumerate(tenants)
            for k in range(p.pbxs_per_tenant)
        )
        self.tenants = tenants
        self.pbxs_of: dict[int, list[Any]] = {}
        for pbx in pbxs:
            self.pbxs_of.setdefault(pbx.tenant_id, []).append(pbx)
        Domain.objects.bulk_create(
            Domain(
                tenant=tenant,
                name=f"t{t + 1:02d}.voice.bench.example",
                pbx=self.pbxs_of[tenant.id][0],
            )
            for t, tenant in enumerate(tenants)
        )
        harness_tenant = Tenant.objects.create(name="SIPp callers", description="bench harness")
        harness_pbx = Pbx.objects.create(tenant=harness_tenant, name="sipp-uac", host="127.0.0.1")

        sources = []
        for ci, carrier in enumerate(carriers):
            for k in range(10):
                sources.append(IpSource(cidr=f"198.18.{100 + ci}.{8 * k}/29", carrier=carrier))
        for t, tenant in enumerate(tenants):
            for k, pbx in enumerate(self.pbxs_of[tenant.id]):
                for host in range(8):
                    sources.append(IpSource(cidr=f"198.18.{t + 1}.{k * 16 + 1 + host}/32", pbx=pbx))
                sources.append(IpSource(cidr=f"198.18.{t + 1}.{128 + k * 16}/28", pbx=pbx))
        sources.append(IpSource(cidr="127.0.0.1/32", pbx=harness_pbx, description="SIPp"))
        IpSource.objects.bulk_create(sources)

        rules = []
        for ci, carrier in enumerate(carriers):
            rules += [
                NormalizationRule(carrier=carrier, direction="in", priority=10, kind="regex",
                                  pattern=r"0(\d{9})", replacement=r"33\1"),
                NormalizationRule(carrier=carrier, direction="in", priority=20,
                                  match_prefix="00", strip=2),
                NormalizationRule(carrier=carrier, direction="out", applies_to="callee",
                                  priority=10, match_prefix="33" if ci % 2 == 0 else "",
                                  strip=2 if ci % 2 == 0 else 0,
                                  add_prefix="0" if ci % 2 == 0 else "00"),
            ]  # fmt: skip
        for pbx in pbxs:
            rules += [
                NormalizationRule(pbx=pbx, direction="in", priority=10, match_prefix="00", strip=2),
                NormalizationRule(pbx=pbx, direction="in", priority=20, kind="regex",
                                  pattern=r"0(\d{9})", replacement=r"33\1"),
                NormalizationRule(pbx=pbx, direction="out", applies_to="callee", priority=10,
                                  match_prefix="33", strip=2, add_prefix="0"),
            ]  # fmt: skip
        NormalizationRule.objects.bulk_create(rules)

        RouterInstance.objects.create(
            name="bench",
            listen_ip="127.0.0.1",
            api_urls="http://127.0.0.1:8000/kamailio/rtjson",
            token=TOKEN,
            description="bench/run",
        )

    # -- route rules and targets ---------------------------------------------------------------
    def _target_list(self) -> list[Target]:
        """(order, weight, carrier_id, gateway_id) for one rule: 1-3 orders, distinct carriers."""
        rng = self.rng
        orders = rng.choices((1, 2, 3), (30, 45, 25))[0]
        carriers = rng.sample(self.carriers, min(len(self.carriers), orders * 2))
        spare = carriers[orders:]
        out: list[Target] = []
        for order in range(orders):
            carrier = carriers[order]
            kind = rng.random()
            if kind < 0.60:
                out.append((order, 100, None, rng.choice(self.gateways_of[carrier.id]).id))
            elif kind < 0.85 or not spare:
                out.append((order, 100, carrier.id, None))
            else:  # an equal-order pair sharing calls 70/30
                other = spare.pop()
                out.append((order, 70, None, rng.choice(self.gateways_of[carrier.id]).id))
                out.append((order, 30, None, rng.choice(self.gateways_of[other.id]).id))
        return out

    def _rules(self) -> tuple[int, int]:
        p, rng = self.p, self.rng
        started = time.perf_counter()
        prefixes = unique_prefixes(rng, p.prefixes)
        now = self.now.isoformat()
        rule_rows: list[tuple[Any, ...]] = []
        target_rows: list[tuple[Any, ...]] = []

        def add(prefix: str, *, tenant_id: int | None = None, caller_prefix: str = "",
                weekdays: str = "", start: str | None = None, end: str | None = None,
                tz: str = "UTC", extra: str = "",
                targets: list[Target] | None = None) -> None:  # fmt: skip
            rule_id = len(rule_rows) + 1
            rule_rows.append(
                (rule_id, now, now, "", prefix, caller_prefix, 100, True, weekdays, start, end,
                 tz, "", "", extra, "", tenant_id)
            )  # fmt: skip
            for order, weight, carrier_id, gateway_id in targets or self._target_list():
                target_rows.append(
                    (len(target_rows) + 1, order, weight, carrier_id, gateway_id, rule_id)
                )

        tenant_ids = [tenant.id for tenant in self.tenants]
        for prefix in prefixes:
            add(prefix, extra="X-Route: premium" if rng.random() < 0.01 else "")
            roll = rng.random()
            if roll < 0.05:
                add(prefix, tenant_id=rng.choice(tenant_ids))
            elif roll < 0.06:
                add(prefix, caller_prefix=rng.choice(("33", "44", "49")))
            elif roll < 0.08:
                add(prefix, weekdays="12345", start="08:00", end="18:00", tz="Europe/Paris")
            elif roll < 0.085:
                add(prefix, start="22:00", end="06:00")
        gateway_fail, gateway_ok = self.sipp_gateways
        add(PROBE_PREFIX, targets=[(0, 100, None, self.gateways[0].id)])
        add(
            KAMAILIO_PREFIX,
            targets=[(0, 100, None, gateway_fail.id), (1, 100, None, gateway_ok.id)],
        )
        self.log(f"  generated {len(rule_rows):,} rules, {len(target_rows):,} targets "
                 f"in {time.perf_counter() - started:.1f}s")  # fmt: skip
        started = time.perf_counter()
        copy_rows(
            "routing_routerule",
            ("id", "created_at", "updated_at", "name", "prefix", "caller_prefix", "priority",
             "enabled", "weekdays", "start_time", "end_time", "timezone", "caller_id",
             "from_display", "extra_headers", "description", "tenant_id"),
            rule_rows,
        )  # fmt: skip
        copy_rows(
            "routing_routetarget",
            ("id", "order", "weight", "carrier_id", "gateway_id", "rule_id"),
            target_rows,
        )
        self.log(f"  copied rules and targets in {time.perf_counter() - started:.1f}s")
        return len(rule_rows), len(target_rows)

    # -- DIDs ----------------------------------------------------------------------------------
    def _dids(self) -> int:
        p, rng = self.p, self.rng
        started = time.perf_counter()
        now = self.now.isoformat()
        n_ranges = p.dids * 3 // 100
        n_prefixes = p.dids * 2 // 100
        n_exact = p.dids - n_ranges - n_prefixes
        seen: set[str] = set()
        rows: list[tuple[Any, ...]] = []

        def owner() -> tuple[int, int]:
            tenant = rng.choice(self.tenants)
            return tenant.id, rng.choice(self.pbxs_of[tenant.id]).id

        def add(number: str, match: str, range_end: str = "") -> None:
            tenant_id, pbx_id = owner()
            rows.append(
                (len(rows) + 1, now, now, number, match, range_end, True, "", pbx_id, tenant_id)
            )

        while len(rows) < n_exact:
            start, count = rng.choice(DID_BLOCKS)
            number = start + _digits(rng, count)
            if number not in seen:
                seen.add(number)
                add(number, "exact")
        while len(rows) < n_exact + n_ranges:
            block = DID_RANGE_BLOCK + _digits(rng, 5)
            if block not in seen:
                seen.add(block)
                add(block + "00", "range", block + "99")
        while len(rows) < p.dids:
            number = DID_PREFIX_BLOCK + _digits(rng, rng.choice((3, 4)))
            if number not in seen:
                seen.add(number)
                add(number, "prefix")
        copy_rows(
            "routing_did",
            ("id", "created_at", "updated_at", "number", "match", "range_end", "enabled",
             "description", "pbx_id", "tenant_id"),
            rows,
        )  # fmt: skip
        self.log(
            f"  generated and copied {len(rows):,} DIDs in {time.perf_counter() - started:.1f}s"
        )
        return len(rows)


# ------------------------------------------------------------------------------------------
# Commands (run with DATABASE_URL naming the bench database)


def _setup_django(db: str) -> None:
    check_db_name(db)
    os.environ["DATABASE_URL"] = server_url(db)
    os.environ["DATABASE_POOL"] = "0"
    os.environ.setdefault("C4ROUTER_MODE", "dev")
    os.environ.pop("DEBUG", None)
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["DJANGO_SETTINGS_MODULE"] = "c4router.settings"
    import django

    django.setup()


def _meta(cursor: Any) -> dict[str, str]:
    cursor.execute("CREATE TABLE IF NOT EXISTS bench_meta (key text PRIMARY KEY, value text)")
    cursor.execute("SELECT key, value FROM bench_meta")
    return dict(cursor.fetchall())


def _counts(cursor: Any) -> dict[str, int]:
    counts = {}
    for name in ("routerule", "routetarget", "did", "ipsource", "tenant", "pbx", "carrier",
                 "gateway", "normalizationrule", "domain"):  # fmt: skip
        cursor.execute(f"SELECT COUNT(*) FROM routing_{name}")  # noqa: S608
        counts[name] = cursor.fetchone()[0]
    return counts


def ensure(db: str, params: Params, *, rebuild: bool) -> dict[str, Any]:
    started = time.perf_counter()
    create_database(db, rebuild=rebuild)
    _setup_django(db)
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        meta = _meta(cursor)
        counts = _counts(cursor)
    if meta.get("params") == params.as_json() and json.loads(meta.get("counts", "{}")) == counts:
        return {"db": db, "reused": True, "seconds": time.perf_counter() - started,
                "built_in": float(meta.get("build_seconds", "0")), "counts": counts}  # fmt: skip
    if meta:
        why = "parameters changed" if meta.get("params") != params.as_json() else "rows changed"
        print(f"{db}: {why} since it was built: building it again", flush=True)
    if any(counts.values()):
        # A partial or older build: start over, in this bench database only.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT string_agg(quote_ident(tablename), ', ') FROM pg_tables "
                "WHERE schemaname = 'public' AND tablename LIKE 'routing\\_%%'"
            )
            tables = cursor.fetchone()[0]
            cursor.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
            cursor.execute("DELETE FROM bench_meta")
    print(f"building {db}: {params.prefixes:,} prefixes, {params.dids:,} DIDs", flush=True)
    build_started = time.perf_counter()
    Builder(params, log=lambda text: print(text, flush=True)).build()
    build_seconds = time.perf_counter() - build_started
    with connection.cursor() as cursor:
        counts = _counts(cursor)
        for key, value in (("params", params.as_json()), ("counts", json.dumps(counts)),
                           ("build_seconds", f"{build_seconds:.1f}")):  # fmt: skip
            cursor.execute(
                "INSERT INTO bench_meta (key, value) VALUES (%s, %s) "
                "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                [key, value],
            )
    return {"db": db, "reused": False, "seconds": time.perf_counter() - started,
            "built_in": build_seconds, "counts": counts}  # fmt: skip


def set_gateways(db: str, fail_port: int, ok_port: int) -> None:
    """Point the SIPp carriers' gateways at the running SIPp instances (bumps the version)."""
    _setup_django(db)
    from django.db import transaction

    from routing.models import Gateway

    with transaction.atomic():
        for name, port in (("uas-503", fail_port), ("uas-200", ok_port)):
            gateway = Gateway.objects.get(name=name, host="127.0.0.1")
            gateway.port = port
            gateway.save()  # the post_save signal bumps the routing version


def set_limits(db: str, calls: int | None, cps: int | None) -> None:
    """Put these capacity limits on every tenant, PBX, IP source, carrier and gateway (None:
    no limit), then bump the routing version once: the overload section's limits on vs off."""
    _setup_django(db)
    from django.db import transaction

    from routing.models import Carrier, Gateway, IpSource, Pbx, Tenant, bump_routing_version

    with transaction.atomic():
        bump_routing_version()
        for model in (Tenant, Pbx, IpSource, Carrier, Gateway):
            model.objects.update(max_calls=calls, max_cps=cps)


def set_rule_mode(db: str, mode: str) -> None:
    """The Kamailio rule (KAMAILIO_PREFIX) in `mode` ("priority" or "lcr"); for "lcr", the
    two SIPp carriers and the SIPp callers' tenant get decks (once) that bill like real
    ones: a connect fee and 30/6 s increments, so each route of the answer carries rate,
    fee, increments, the customer's rate and its own (what the records price calls with).
    Bumps the routing version."""
    _setup_django(db)
    from datetime import UTC, datetime
    from decimal import Decimal

    from django.db import transaction

    from routing.models import Carrier, Rate, RateDeck, RouteRule, Tenant

    start = datetime(2020, 1, 1, tzinfo=UTC)
    with transaction.atomic():
        owners = [
            ({"carrier": Carrier.objects.get(name="SIPp 503")}, "0.0100"),
            ({"carrier": Carrier.objects.get(name="SIPp 200")}, "0.0120"),
            ({"tenant": Tenant.objects.get(name="SIPp callers")}, "0.0300"),
        ]
        for owner, rate in owners:
            name = f"bench {next(iter(owner.values())).name}"
            deck, made = RateDeck.objects.get_or_create(
                name=name, defaults={**owner, "currency": "EUR"}
            )
            if made:
                Rate.objects.create(deck=deck, prefix=KAMAILIO_PREFIX, rate=Decimal(rate),
                                    connect_fee=Decimal("0.01"), initial_increment=30,
                                    next_increment=6, effective_from=start)  # fmt: skip
        rule = RouteRule.objects.get(prefix=KAMAILIO_PREFIX, tenant=None)
        rule.mode = mode
        rule.save()  # the post_save signal bumps the routing version


def probe_changes(db: str) -> None:
    """Change the probe rule's target to another gateway for each "change" line on stdin.

    Prints one JSON line per committed change: the monotonic clock right after COMMIT and
    the dst_uri an answer must name from then on (a gateway not used before in this run, so
    that no change can be mistaken for an earlier one). The change goes through the ORM as
    an admin's would: RouteTarget.save(), whose signal bumps the version in the same
    transaction.
    """
    _setup_django(db)
    from django.db import transaction

    from routing.models import Gateway, RouteTarget

    target = RouteTarget.objects.select_related("gateway").get(rule__prefix=PROBE_PREFIX)
    unused = [
        gateway
        for gateway in Gateway.objects.exclude(host="127.0.0.1").order_by("id")
        if gateway.id != target.gateway_id
    ]
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        if line.strip() != "change":
            break
        gateway = unused.pop(0)
        with transaction.atomic():
            target.gateway = gateway
            target.save()
        committed = time.monotonic()
        print(json.dumps({"committed": committed, "dst_uri": f"sip:{gateway.host}:{gateway.port}"}),
              flush=True)  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.dataset")
    sub = parser.add_subparsers(dest="command", required=True)
    p_ensure = sub.add_parser("ensure")
    p_ensure.add_argument("--db", required=True)
    p_ensure.add_argument("--prefixes", type=int, default=Params.prefixes)
    p_ensure.add_argument("--dids", type=int, default=Params.dids)
    p_ensure.add_argument("--rebuild", action="store_true")
    p_gw = sub.add_parser("set-gateways")
    p_gw.add_argument("--db", required=True)
    p_gw.add_argument("--fail-port", type=int, required=True)
    p_gw.add_argument("--ok-port", type=int, required=True)
    p_limits = sub.add_parser("set-limits")
    p_limits.add_argument("--db", required=True)
    p_limits.add_argument("--calls", type=int, help="max_calls of every row (none: no limit)")
    p_limits.add_argument("--cps", type=int, help="max_cps of every row (none: no limit)")
    p_mode = sub.add_parser("set-rule-mode")
    p_mode.add_argument("--db", required=True)
    p_mode.add_argument("--mode", choices=("priority", "lcr"), required=True)
    p_probe = sub.add_parser("probe-changes")
    p_probe.add_argument("--db", required=True)
    args = parser.parse_args(argv)
    if args.command == "ensure":
        params = Params(prefixes=args.prefixes, dids=args.dids)
        result = ensure(args.db, params, rebuild=args.rebuild)
        print("RESULT " + json.dumps(result), flush=True)
    elif args.command == "set-gateways":
        set_gateways(args.db, args.fail_port, args.ok_port)
    elif args.command == "set-limits":
        set_limits(args.db, args.calls, args.cps)
    elif args.command == "set-rule-mode":
        set_rule_mode(args.db, args.mode)
    else:
        probe_changes(args.db)


if __name__ == "__main__":
    sys.exit(main())
