"""Per-carrier traffic figures in /metrics, from the rollups.

Gauges per carrier over the last 5 minutes and the last hour (labels carrier, carrier_id,
window): attempts, answered, ASR, NER, calls answered, ACD, PDD p50/p95 (routing.cdr.rollups
says how each is computed); and the money of the answered least-cost calls by the carrier
of their last attempt (one more label, currency: a deck's; amounts are never added across
currencies): calls priced, billed seconds, cost, revenue and margin (over the calls with a
customer rate; absent when none had one). They come from the database, which all workers
and nodes share, so they are not summed across processes: each worker renders the same
figures.

/metrics is answered on the event loop (c4router/asgi.py) and must never wait for the
database: exposition() returns the figures of the last refresh and, when they are older
than REFRESH_SECONDS, starts a refresh in a thread of its own. A scrape so shows figures at
most one scrape interval old; a database outage leaves them out rather than failing
/metrics.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

logger = logging.getLogger("c4router.cdr")

REFRESH_SECONDS = 10.0
WINDOWS = {"5m": timedelta(minutes=5), "1h": timedelta(hours=1)}
_FIGURES = (
    ("attempts", "Attempts (routes tried)", lambda s: s.attempts),
    ("answered", "Attempts answered (2xx)", lambda s: s.answered),
    ("asr_ratio", "Answer-seizure ratio: answered / attempts", lambda s: s.asr),
    ("ner_ratio", "Network effectiveness ratio (answered or user-refused / attempts)",
     lambda s: s.ner),
    ("calls_answered", "Calls answered through the carrier", lambda s: s.calls_answered),
    ("acd_seconds", "Average duration of the answered calls", lambda s: s.acd_seconds),
    ("pdd_p50_seconds", "Post-dial delay, median",
     lambda s: None if s.pdd_p50_ms is None else s.pdd_p50_ms / 1000),
    ("pdd_p95_seconds", "Post-dial delay, 95th percentile",
     lambda s: None if s.pdd_p95_ms is None else s.pdd_p95_ms / 1000),
)  # fmt: skip


# The money of the answered least-cost calls (routing.cdr.rollups.Money), per currency.
_MONEY = (
    ("calls_priced", "Answered least-cost calls with a cost", lambda m: m.priced),
    ("billed_seconds", "Seconds billed (the decks' increments)", lambda m: m.billed_seconds),
    ("cost", "What the carrier charges, in the currency", lambda m: m.cost),
    ("revenue", "What the customers pay, in the currency (calls with a customer rate)",
     lambda m: m.revenue if m.sold else None),
    ("margin", "Revenue minus the cost of the calls with a customer rate", lambda m: m.margin),
)  # fmt: skip


class _Snapshot(Collector):
    def __init__(self, families: list[GaugeMetricFamily]) -> None:
        self.families = families

    def collect(self):  # type: ignore[no-untyped-def]
        return iter(self.families)


def compute(now: datetime | None = None) -> bytes:
    """The exposition text of the per-carrier figures (queries the rollups)."""
    from routing.cdr import rollups
    from routing.models import Carrier

    now = now or datetime.now(UTC)
    names = dict(Carrier.objects.values_list("pk", "name"))
    families = {
        key: GaugeMetricFamily(
            f"c4router_carrier_{key}", f"{text}, per carrier over a window of time.",
            labels=["carrier", "carrier_id", "window"],
        )
        for key, text, _ in _FIGURES
    }  # fmt: skip
    money = {
        key: GaugeMetricFamily(
            f"c4router_carrier_{key}", f"{text}, per carrier and currency over a window of time.",
            labels=["carrier", "carrier_id", "window", "currency"],
        )
        for key, text, _ in _MONEY
    }  # fmt: skip
    for window, length in WINDOWS.items():
        start = rollups.bucket_of(now - length + timedelta(seconds=1))
        end = now + timedelta(seconds=1)
        for carrier_id, stats in rollups.carrier_stats(start, end).items():
            if not carrier_id:
                continue
            labels = [names.get(carrier_id, f"#{carrier_id}"), str(carrier_id), window]
            for key, _text, value in _FIGURES:
                figure = value(stats)
                if figure is not None:
                    families[key].add_metric(labels, float(figure))
        for carrier_id, moneys in rollups.money_by("carrier_id", start, end).items():
            if not carrier_id:
                continue
            name = names.get(carrier_id, f"#{carrier_id}")  # type: ignore[call-overload]
            for one in moneys:
                labels = [name, str(carrier_id), window, one.currency]
                for key, _text, value in _MONEY:
                    figure = value(one)
                    if figure is not None:
                        money[key].add_metric(labels, float(figure))
    families.update(money)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(list(families.values())))
    return generate_latest(registry)


class _Cache:
    text = b""
    refreshed = float("-inf")
    running = False
    lock = threading.Lock()


def refresh() -> None:
    """Recompute the figures (in the calling thread) and keep them for exposition()."""
    from django.db import DatabaseError, connection

    try:
        _Cache.text = compute()
    except DatabaseError as exc:
        logger.debug("carrier metrics not refreshed: %s", exc)
        _Cache.text = b""
    except Exception:  # a bug: said in the log, /metrics keeps answering (without them)
        logger.exception("carrier metrics not refreshed")
        _Cache.text = b""
    finally:
        _Cache.refreshed = time.monotonic()
        _Cache.running = False
        connection.close()  # this thread's own connection


def exposition() -> bytes:
    """The figures of the last refresh; a refresh started in the background if stale."""
    if time.monotonic() - _Cache.refreshed >= REFRESH_SECONDS:
        with _Cache.lock:
            if not _Cache.running:
                _Cache.running = True
                threading.Thread(target=refresh, name="carrier-metrics", daemon=True).start()
    return _Cache.text
