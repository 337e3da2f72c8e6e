"""/metrics: per-carrier traffic figures from the rollups, never waiting for the database."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

import pytest

from routing.cdr import metrics as carrier_metrics
from routing.cdr.records import parse_message
from routing.cdr.store import store_rows
from routing.models import Carrier

from .samples import answered_attempt, body, call, failed_attempt

pytestmark = pytest.mark.django_db(transaction=True)


def scraped(client) -> str:  # type: ignore[no-untyped-def]
    """/metrics once its per-carrier figures are refreshed from the rollups."""
    carrier_metrics._Cache.refreshed = float("-inf")
    client.get("/metrics")  # starts the refresh in the background: answers at once
    deadline = time.monotonic() + 10
    while carrier_metrics._Cache.running and time.monotonic() < deadline:
        time.sleep(0.05)
    return client.get("/metrics").content.decode()


def test_carrier_figures_in_the_metrics_page(client):
    alpha = Carrier.objects.create(name="Alpha")
    beta = Carrier.objects.create(name="Beta")
    start = (datetime.now(UTC) - timedelta(minutes=20)).timestamp()
    route_1 = {"attempt": 1, "rule": 7, "carrier": alpha.pk, "gateway": 20, "to": "1"}
    route_2 = {"attempt": 2, "rule": 7, "carrier": beta.pk, "gateway": 21, "to": "2"}
    messages = []
    for n in range(4):
        messages += [
            failed_attempt(start, f"c{n}", j_route=route_1),
            answered_attempt(start, f"c{n}", j_route=route_2),
            call(start, f"c{n}", j_route=route_2),
        ]
    store_rows([parse_message(body(m)) for m in messages])

    text = scraped(client)

    beta_1h = f'carrier="Beta",carrier_id="{beta.pk}",window="1h"'
    alpha_1h = f'carrier="Alpha",carrier_id="{alpha.pk}",window="1h"'
    assert f"c4router_carrier_attempts{{{alpha_1h}}} 4.0" in text
    assert f"c4router_carrier_asr_ratio{{{alpha_1h}}} 0.0" in text
    assert f"c4router_carrier_asr_ratio{{{beta_1h}}} 1.0" in text
    acd = re.search(rf"^c4router_carrier_acd_seconds{{{re.escape(beta_1h)}}} (\S+)$", text, re.M)
    assert acd is not None and float(acd.group(1)) == pytest.approx(60.507, abs=0.002)
    assert f"c4router_carrier_pdd_p50_seconds{{{beta_1h}}}" in text
    # 20 minutes ago is outside the last 5 minutes.
    assert 'window="5m"' not in text
    # The routing metrics are still there.
    assert "c4router_routing_requests_total" in text


def test_the_least_cost_calls_money_per_carrier_and_currency(client):
    """Two answered least-cost calls through Beta billed 30/6 with a connect fee and a
    customer rate (EUR), one through Gamma in USD without one: each currency apart, and no
    revenue or margin where no customer rate was known."""
    beta = Carrier.objects.create(name="Beta")
    gamma = Carrier.objects.create(name="Gamma")
    start = (datetime.now(UTC) - timedelta(minutes=20)).timestamp()
    eur = {"attempt": 1, "rule": 7, "carrier": beta.pk, "gateway": 21, "to": "2",
           "rate": "0.0125", "currency": "EUR", "fee": "0.05", "inc": "30/6", "sell": "0.02",
           "sinc": "60/60"}  # fmt: skip
    usd = {**eur, "carrier": gamma.pk, "rate": "0.6", "currency": "USD", "sell": None}
    for key in ("fee", "inc", "sinc"):
        del usd[key]
    messages = [call(start, "m-1", j_route=eur), call(start, "m-2", j_route=eur),
                call(start, "u-1", j_route=usd)]  # fmt: skip
    store_rows([parse_message(body(m)) for m in messages])

    text = scraped(client)

    def figure(name: str, carrier: Carrier, currency: str) -> float | None:
        labels = (
            f'carrier="{carrier.name}",carrier_id="{carrier.pk}",currency="{currency}",window="1h"'
        )
        found = re.search(rf"^c4router_carrier_{name}{{{re.escape(labels)}}} (\S+)$", text, re.M)
        return None if found is None else float(found.group(1))

    # Each call 60.507 s: billed 66 s (30 then 6 by 6); 0.05 + 0.0125 x 66 / 60 = 0.06375.
    assert figure("calls_priced", beta, "EUR") == 2
    assert figure("billed_seconds", beta, "EUR") == 132
    assert figure("cost", beta, "EUR") == pytest.approx(0.1275)
    assert figure("revenue", beta, "EUR") == pytest.approx(0.08)
    assert figure("margin", beta, "EUR") == pytest.approx(-0.0475)
    assert figure("cost", gamma, "USD") == pytest.approx(0.61)
    assert figure("revenue", gamma, "USD") is None
    assert figure("margin", gamma, "USD") is None
    assert figure("cost", beta, "USD") is None
    assert 'window="5m"' not in text  # 20 minutes ago


def test_a_refresh_that_fails_is_logged_and_metrics_keep_answering(client, monkeypatch, caplog):
    """Not only a database error: whatever fails in the refresh thread is logged there, the
    figures are left out, and /metrics still answers (the routing metrics)."""
    from routing.cdr import rollups

    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("a bug in the rollups")

    monkeypatch.setattr(rollups, "carrier_stats", broken)
    with caplog.at_level("ERROR", logger="c4router.cdr"):
        carrier_metrics.refresh()
    assert "carrier metrics not refreshed" in caplog.text and "a bug in the rollups" in caplog.text
    assert carrier_metrics._Cache.text == b""
    assert "c4router_routing_requests_total" in client.get("/metrics").content.decode()
