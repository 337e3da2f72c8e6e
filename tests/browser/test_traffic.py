"""The Traffic pages in Debian's Chromium: the charts are drawn, with data points, from
records (routing/admin_traffic.py, routing/static/routing/traffic.js, plotly.js).

Two sources of records:
- the demo's (`manage.py seed_demo` then `seed_demo --traffic`'s generator, stored through
  the ingester's store): cheap, every chart of the Traffic page and a carrier page;
- a real end-to-end run: SIPp calls through a real Kamailio (its acc and dialog modules
  publishing to the real RabbitMQ), `ingest_cdrs`'s ingester storing them, the charts
  drawn from those (tests/e2e/test_call_records.py's world and fixtures).
"""

from __future__ import annotations

import sys
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from routing.models import Carrier, Rate, RateDeck, Tenant, TrafficMoneyRollup
from tests.browser.driver import Browser

pytestmark = pytest.mark.browser

E2E = Path(__file__).resolve().parents[1] / "e2e"
if str(E2E) not in sys.path:
    sys.path.insert(0, str(E2E))

import harness as h  # noqa: E402
from test_call_records import cdr_queue, store_records  # noqa: E402, F401 - a fixture
from test_kamailio_c4router import (  # noqa: E402
    call,
    carrier,
    make_world,
    show,
    start_edge,  # noqa: F401 - a fixture
)

from tests.live import C4RouterServer  # noqa: E402

# Per chart element: whether plotly drew it, its data points (non-null y values above 0,
# per trace name) and the SVG marks drawn (bars and lines with a path).
_CHARTS_JS = r"""
return Array.from(document.querySelectorAll('.traffic-chart')).map(el => ({
  id: el.id,
  plotted: !!el._fullLayout,
  points: Object.fromEntries((el.data || []).map(t => [t.name,
      (t.y || []).filter(v => v !== null && v > 0).length])),
  marks: Array.from(el.querySelectorAll('.barlayer .point path, .scatterlayer .js-line'))
      .filter(p => (p.getAttribute('d') || '').length > 4).length,
}));
"""


def charts(browser: Browser) -> dict[str, dict]:
    """The page's charts once plotly has drawn them all, by element id."""
    browser.wait(
        lambda d: d.execute_script(
            "const c = document.querySelectorAll('.traffic-chart');"
            "return c.length > 0 && Array.from(c).every(e => e._fullLayout);"
        ),
        "the charts to be drawn",
    )
    return {chart["id"]: chart for chart in browser.driver.execute_script(_CHARTS_JS)}


def assert_all_drawn(found: dict[str, dict], expected: set[str]) -> None:
    assert set(found) == expected, found
    for chart in found.values():
        assert chart["plotted"] and chart["marks"] > 0, chart
        assert sum(chart["points"].values()) > 0, chart


def test_the_demo_day_draws_every_chart(admin_browser: Browser) -> None:
    from routing.cdr.demo import seed_traffic
    from routing.demo import seed_demo

    seed_demo()
    # A name as an operator may type it: shown as typed, not read as markup by plotly.
    Carrier.objects.filter(name="Gamma Carrier").update(name="Gamma <b>Carrier</b> & Co")
    assert seed_traffic(hours=6, per_hour=120) > 0
    admin_browser.go("/admin/traffic/?range=6h")
    found = charts(admin_browser)
    assert_all_drawn(
        found, {"chart-rate", "chart-outcomes", "chart-carriers", "chart-customers",
                "chart-codes", "chart-money"},
    )  # fmt: skip
    assert found["chart-rate"]["points"]["calls/s"] > 30  # of the 72 5-minute steps
    # The demo's calls answered by Alpha Telecom are priced by its deck (EUR; no customer
    # deck: no revenue): its cost drawn at every step that has some (how many depends on
    # the hour: the demo's calls are drawn per step; the range's first step may be cut).
    priced = (
        TrafficMoneyRollup.objects.filter(currency="EUR", cost__gt=0)
        .values("bucket")
        .distinct()
        .count()
    )
    assert priced > 5
    assert priced - 1 <= found["chart-money"]["points"]["cost (EUR)"] <= priced
    assert found["chart-outcomes"]["points"]["answered (2xx)"] > 30
    admin_browser.assert_no_horizontal_overflow(1366)  # charts and tables fit a laptop
    ticks = admin_browser.texts("#chart-carriers .xtick text")
    assert "Gamma <b>Carrier</b> & Co" in ticks, ticks
    assert sorted(admin_browser.texts("#traffic-customers tbody th")) == ["Acme Corp", "Globex"]

    # From the carriers table to a carrier's page, and its charts.
    alpha = Carrier.objects.get(name="Alpha Telecom")
    admin_browser.click_link("Alpha Telecom")
    assert admin_browser.path == f"/admin/traffic/carrier/{alpha.pk}/?range=6h"
    assert admin_browser.text("h1") == "Traffic of carrier Alpha Telecom"
    found = charts(admin_browser)
    assert_all_drawn(
        found, {"chart-rate", "chart-outcomes", "chart-quality", "chart-parts", "chart-codes",
                "chart-money"},
    )  # fmt: skip
    assert admin_browser.texts("#traffic-parts tbody th") == ["alpha-1"]

    # The range selector: the last hour, in 5-minute steps (12 of them).
    admin_browser.click_link("last hour")
    assert charts(admin_browser)["chart-rate"]["points"]["attempts/s"] <= 12


def test_the_traffic_page_shows_cost_revenue_and_margin(admin_browser: Browser) -> None:
    from routing.cdr.demo import seed_traffic
    from routing.demo import seed_demo

    seed_demo()
    # Acme pays 0.03 EUR/min for every number, billed per minute: the demo's answered calls
    # through Alpha Telecom (its deck: EUR) are priced, and earn Acme's rate.
    acme = Tenant.objects.get(name="Acme Corp")
    deck = RateDeck.objects.create(name="Acme sell", tenant=acme, currency="EUR")
    Rate.objects.create(
        deck=deck, prefix="", rate=Decimal("0.03"), initial_increment=60, next_increment=60,
        effective_from=datetime(2020, 1, 1, tzinfo=UTC),
    )  # fmt: skip
    assert seed_traffic(hours=6, per_hour=120) > 0
    admin_browser.go("/admin/traffic/?range=6h")
    rows = admin_browser.table("#traffic-money table")
    assert rows[0] == [
        "", "Currency", "Priced calls", "Billed minutes", "Cost", "Revenue", "Margin", "Margin %",
    ]  # fmt: skip
    lines = {tuple(row[:2]): row for row in rows if len(row) == 8}
    total, alpha = lines[("all", "EUR")], lines[("Alpha Telecom", "EUR")]
    assert total[2:] == alpha[2:] and int(total[2]) > 0  # Alpha's deck is the only one
    # Acme's calls all have its rate: their margin is their revenue less their cost (the
    # total's margin counts the calls with a customer rate only: Globex has none).
    cost, revenue, margin = (Decimal(value) for value in lines[("Acme Corp", "EUR")][4:7])
    assert cost > 0 and revenue > 0 and margin == revenue - cost
    assert lines[("Globex", "EUR")][5:7] == ["-", "-"]
    admin_browser.assert_no_horizontal_overflow(1366)
    # The money chart: cost in the steps of Alpha's answered calls, revenue in those of
    # Acme's among them (Globex pays no rate).
    points = charts(admin_browser)["chart-money"]["points"]
    assert 0 < points["revenue (EUR)"] < points["cost (EUR)"]
    # A customer's page: its money per carrier.
    admin_browser.click_link("Acme Corp")
    assert admin_browser.text("h1") == "Traffic of customer Acme Corp"
    rows = admin_browser.table("#traffic-money table")
    assert ["Alpha Telecom", "EUR"] in [row[:2] for row in rows]


def test_an_empty_range_says_how_to_fill_it(admin_browser: Browser) -> None:
    admin_browser.go("/admin/traffic/")
    assert "No calls in this range" in admin_browser.text("#traffic-empty")
    assert not admin_browser.exists(".traffic-chart")


# --- records from a real Kamailio + SIPp run ---------------------------------------------------


@pytest.fixture
def kamailio_server(browser_db: None, tmp_path: Path):  # type: ignore[no-untyped-def]
    """The c4router Kamailio asks (started once the world exists, as in tests/e2e)."""
    server = C4RouterServer(tmp_path)
    yield server
    server.stop()


@pytest.mark.e2e
def test_charts_from_records_of_a_real_sipp_run(
    admin_browser: Browser,
    kamailio_server: C4RouterServer,
    cdr_queue: str,  # noqa: F811 - the fixture
    start_edge,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    h.skip_or_fail_without_requirements()
    world = make_world(f"{kamailio_server.url}/kamailio/rtjson")
    kamailio_server.start()
    edge = start_edge(world.instance)
    # A call Alpha refuses with 503 and Beta answers (failover), then one Alpha finds busy.
    with (
        carrier("uas_503.xml", world.alpha_port, tmp_path, "alpha") as alpha,
        carrier("uas.xml", world.beta_port, tmp_path, "beta") as beta,
    ):
        answered = call(edge, tmp_path)
        seen = alpha.wait(10), beta.wait(10)
    with carrier("uas_486.xml", world.alpha_port, tmp_path, "alpha-busy") as busy_alpha:
        busy = call(edge, tmp_path, scenario="uac_expect_fail.xml")
        seen_busy = busy_alpha.wait(10)
    assert answered.ok and busy.ok, show(answered, busy, *seen, seen_busy, edge.log_tail())
    ingester = store_records(cdr_queue, 5)  # 3 attempts, 2 calls
    assert (ingester.counts.stored, ingester.counts.rejected) == (5, 0), edge.log_tail()

    admin_browser.go("/admin/traffic/?range=1h")
    assert admin_browser.table("#traffic-summary")[1][:3] == ["2", "1", "3"]
    found = charts(admin_browser)
    assert_all_drawn(
        found, {"chart-rate", "chart-outcomes", "chart-carriers", "chart-customers",
                "chart-codes"},
    )  # fmt: skip
    outcomes = found["chart-outcomes"]["points"]
    assert (outcomes["answered (2xx)"], outcomes["4xx"], outcomes["5xx"]) == (1, 1, 1)
    assert sorted(admin_browser.texts("#traffic-codes tbody th")) == ["486", "503"]
    assert admin_browser.texts("#traffic-customers tbody th") == ["Acme"]

    # Alpha's page: its two attempts, both failed (503, 486), drawn.
    admin_browser.click_link("Alpha")
    assert admin_browser.path == f"/admin/traffic/carrier/{world.alpha.pk}/?range=1h"
    found = charts(admin_browser)
    assert_all_drawn(
        {k: v for k, v in found.items() if k != "chart-quality"},
        {"chart-rate", "chart-outcomes", "chart-parts", "chart-codes"},
    )
    # ASR 0 %: no point above zero, but its PDD line is drawn.
    assert found["chart-quality"]["plotted"] and found["chart-quality"]["marks"] > 0
    assert found["chart-codes"]["points"] == {"attempts": 2}
    assert admin_browser.table("#traffic-parts")[1][:3] == ["alpha-1", "2", "0"]


# --- capacity limits: calls in progress and refusals, counted by a real Kamailio ------------

# Redis's database for this test's counters: apart from the e2e suite's (0) and the counter
# tests' (15), which empty theirs.
CAPACITY_REDIS_DB = 14


def _flush_capacity_db() -> None:
    import redis
    from django.conf import settings

    config = settings.C4ROUTER_CAPACITY
    redis.Redis(
        host=config["REDIS_HOST"], port=config["REDIS_PORT"], db=CAPACITY_REDIS_DB
    ).flushdb()


@pytest.fixture
def capacity_server(browser_db: None, tmp_path: Path, settings):  # type: ignore[no-untyped-def]
    """A c4router with the limits on, and the edge's settings the same (the config the
    test renders counts in the same Redis database as the server reads)."""
    settings.C4ROUTER_CAPACITY = {
        **settings.C4ROUTER_CAPACITY, "ENABLED": True, "REDIS_DB": CAPACITY_REDIS_DB,
    }  # fmt: skip
    _flush_capacity_db()
    server = C4RouterServer(
        tmp_path,
        env={
            "C4ROUTER_CAPACITY_ENABLED": "1",
            "C4ROUTER_CAPACITY_REDIS_DB": str(CAPACITY_REDIS_DB),
        },
    )
    yield server
    server.stop()
    _flush_capacity_db()


@pytest.mark.e2e
def test_a_limits_calls_in_progress_and_refusals_appear_on_the_traffic_pages(
    _chromium: object,
    admin_user: object,
    capacity_server: C4RouterServer,
    start_edge,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    import threading

    from test_capacity import offer, outcomes

    from tests.browser.conftest import log_in

    h.skip_or_fail_without_requirements()
    world = make_world(f"{capacity_server.url}/kamailio/rtjson")
    world.pbx.max_calls = 1
    world.pbx.save()
    capacity_server.start()
    edge = start_edge(world.instance)
    browser = Browser(_chromium, capacity_server.url)
    log_in(browser, admin_user)

    # Two 12 s calls a second apart from Acme's PBX, which may have 1 at once: the first
    # goes through, the second is refused at once.
    results: list[h.SippResult] = []
    with carrier("uas.xml", world.alpha_port, tmp_path, "alpha"):
        caller = threading.Thread(
            target=lambda: results.append(offer(edge, tmp_path, rate=1, calls=2, call_ms=12000))
        )
        caller.start()
        try:
            browser.go(f"/admin/traffic/tenant/{world.pbx.tenant_id}/")

            def shown(driver) -> bool:  # type: ignore[no-untyped-def]
                driver.refresh()
                row = browser.table("#traffic-capacity")[1:]
                return bool(row) and row[0][2] == "1 (100 %)" and row[0][5] == "1"

            browser.wait(shown, "the PBX's call in progress and its refusal", timeout=10)
            rows = browser.table("#traffic-capacity")
            assert rows[1] == ["PBX", "Acme / hq", "1 (100 %)", "1", "-", "1", "0"], rows
            assert "Calls in progress: holding a place now" in browser.text(
                "#traffic-capacity-note"
            )
        finally:
            caller.join(timeout=60)
    assert outcomes(results[0]) == Counter({200: 1, 503: 1}), results[0].describe()

    # The call ended: its place is free again; the refusal stays counted.
    browser.go("/admin/traffic/")
    rows = browser.table("#traffic-capacity")
    assert rows[1] == ["PBX", "Acme / hq", "0 (0 %)", "1", "-", "1", "0"], rows
