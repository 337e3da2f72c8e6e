"""How fast manage.py reprice_calls re-prices stored calls (routing/cdr/reprice.py).

`python -m bench.reprice_bench --db c4router_bench_reprice [--records 100000]`: its own
database (dropped and made again), two carriers' decks of 2,000 prefixes under 33 and a
customer's sell deck; RECORDS answered least-cost calls over two days (two day partitions),
stored by the ingester's store_rows() (records and rollups) with the terms their decks gave;
then 10% of one carrier's rates corrected in place, and the re-pricing timed: the preview,
then the apply (records and rollups, one transaction). Prints a RESULT line (JSON).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from bench.dataset import create_database, server_url

PREFIXES = 2_000
CHUNK = 5_000


def _lookup(deck: dict[str, tuple[Decimal, Decimal, int, int]], number: str) -> Any:
    for length in range(len(number), -1, -1):
        found = deck.get(number[:length])
        if found is not None:
            return found
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reprice_bench")
    parser.add_argument("--db", default="c4router_bench_reprice")
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument(
        "--all", action="store_true", help="correct every rate of both carriers (not 10%% of one)"
    )
    args = parser.parse_args(argv)
    create_database(args.db, rebuild=True)
    os.environ["DATABASE_URL"] = server_url(args.db)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "c4router.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from routing.cdr.pricing import Terms, charge
    from routing.cdr.records import UNPRICED
    from routing.cdr.reprice import reprice
    from routing.cdr.store import store_rows
    from routing.models import CallRecord, Carrier, Rate, RateDeck, Tenant

    call_command("migrate", verbosity=0)
    rng = random.Random(16)
    long_ago = datetime(2020, 1, 1, tzinfo=UTC)
    tenants = [Tenant.objects.create(name=f"Tenant {n}") for n in range(2)]
    carriers = [Carrier.objects.create(name=f"Carrier {n}") for n in range(2)]
    decks: list[dict[str, tuple[Decimal, Decimal, int, int]]] = []
    deck_rows = []
    for index, owner in enumerate([*carriers, tenants[0]]):
        kind = {"carrier": owner} if index < 2 else {"tenant": owner}
        deck = RateDeck.objects.create(name=f"Deck {index}", currency="EUR", **kind)
        prefixes = {"33"}
        while len(prefixes) < PREFIXES:
            prefixes.add("33" + "".join(rng.choices("0123456789", k=rng.randint(1, 4))))
        terms = {}
        rows = []
        for prefix in sorted(prefixes):
            rate = Decimal(rng.randint(500, 30_000)) / 1_000_000 * (3 if index == 2 else 1)
            fee = Decimal(rng.choice((0, 0, 10_000))) / 1_000_000
            inc = rng.choice(((1, 1), (30, 6), (60, 60)))
            terms[prefix] = (rate, fee, *inc)
            rows.append(Rate(deck=deck, prefix=prefix, rate=rate, connect_fee=fee,
                             initial_increment=inc[0], next_increment=inc[1],
                             effective_from=long_ago))  # fmt: skip
        Rate.objects.bulk_create(rows)
        decks.append(terms)
        deck_rows.append(deck)
    now = datetime.now(UTC)
    start = (now - timedelta(days=2)).replace(hour=0, minute=0, second=0, microsecond=0)
    step = timedelta(days=2) / args.records
    rows: list[dict[str, Any]] = []
    stored = 0
    t0 = time.perf_counter()
    for n in range(args.records):
        carrier = n % 2
        tenant = (n // 2) % 2
        number = "33" + "".join(rng.choices("0123456789", k=9))
        rate, fee, initial, next_ = _lookup(decks[carrier], number)
        duration = rng.randint(0, 600_000)
        billed, cost = charge(Terms(rate, fee, initial, next_), duration)
        row = {
            "kind": "call", "call_id": f"bench-{n}", "attempt": 0,
            "start_time": start + step * n, "end_time": None, "direction": "out",
            "tenant_id": tenants[tenant].pk, "pbx_id": None, "source_carrier_id": None,
            "rule_id": 1 + n % 20, "carrier_id": carriers[carrier].pk, "gateway_id": 1 + carrier,
            "attempts": 1, "source_ip": "", "caller_in": "", "callee_in": number,
            "caller": "33100000000", "callee": number, "caller_out": "", "callee_out": number,
            "sip_code": 200, "sip_reason": "OK", "q850_cause": None, "pdd_ms": 100,
            "answer_ms": 2000, "duration_ms": duration, "hangup": "caller",
            **UNPRICED, "currency": "EUR", "rate": rate, "billed_seconds": billed, "cost": cost,
        }  # fmt: skip
        if tenant == 0:
            srate, sfee, sinit, snext = _lookup(decks[2], number)
            row["sell_rate"] = srate
            _billed, revenue = charge(Terms(srate, sfee, sinit, snext), duration)
            row["revenue"], row["margin"] = revenue, revenue - cost
        rows.append(row)
        if len(rows) == CHUNK:
            stored += store_rows(rows)
            rows = []
    stored += store_rows(rows)
    setup = time.perf_counter() - t0
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE routing_callrecord")
        cursor.execute("ANALYZE routing_rate")
    # 10% of carrier 0's rates corrected in place (down by a tenth); --all: every rate of
    # both carriers.
    corrected = 0
    chosen = (
        Rate.objects.filter(deck__in=deck_rows[:2])
        if args.all
        else Rate.objects.filter(deck=deck_rows[0]).order_by("prefix")[::10]
    )
    for rate in chosen:
        rate.rate = (rate.rate * Decimal("0.9")).quantize(Decimal("0.000001"))
        rate.save()
        corrected += 1
    since, until = start - timedelta(minutes=1), now
    t0 = time.perf_counter()
    preview = reprice(since, until, preview=True)
    preview_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    applied = reprice(since, until)
    apply_s = time.perf_counter() - t0
    from django.db.models import Sum

    from routing.cdr import rollups

    (money,) = rollups.money_totals(since, until)
    recorded = CallRecord.objects.filter(start_time__gte=since).aggregate(
        c=Sum("cost"), r=Sum("revenue")
    )
    result = {
        "rollups_match_records": (money.cost, money.revenue) == (recorded["c"], recorded["r"]),
        "records": CallRecord.objects.count(), "stored_s": round(setup, 1),
        "rates_corrected": corrected, "read": applied.read, "changed": applied.changed,
        "preview_s": round(preview_s, 2), "preview_per_s": round(preview.read / preview_s),
        "apply_s": round(apply_s, 2), "apply_per_s": round(applied.read / apply_s),
    }  # fmt: skip
    print("RESULT " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
