"""An operator's day one in the admin, in a real browser (issue 12): add a carrier and a
rule, ask the route tester, import CSV, read a rule's history, open the API docs, and the
main pages at 1366 px. What is asserted is what the operator sees, then what was stored.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

import pytest

from routing.models import Carrier, Gateway, IpSource, Pbx, RouteRule, RouteTarget, Tenant
from tests.browser.conftest import log_in
from tests.browser.driver import Browser

pytestmark = pytest.mark.browser

SAVE = "input[name=_save]"
ACME_PBX = "10.10.0.10"


@pytest.fixture
def routing_data(browser_db: None) -> RouteRule:
    """Carriers, a customer's PBX and a rule, committed (the server's process reads them):
    the part of the demo these tests use, written in a few queries. Returns the rule France
    (33: Alpha first, then Beta)."""
    alpha = Carrier.objects.create(name="Alpha Telecom")
    Gateway.objects.create(carrier=alpha, name="alpha-1", host="203.0.113.10")
    Gateway.objects.create(carrier=alpha, name="alpha-2", host="203.0.113.11")
    beta = Carrier.objects.create(name="Beta Voice")
    Gateway.objects.create(carrier=beta, name="beta-1", host="192.0.2.20")
    gamma = Carrier.objects.create(name="Gamma Carrier")
    Gateway.objects.create(carrier=gamma, name="gamma-1", host="192.0.2.40")
    acme = Tenant.objects.create(name="Acme Corp")
    pbx = Pbx.objects.create(tenant=acme, name="acme-hq", host=ACME_PBX)
    IpSource.objects.create(cidr="10.10.0.0/24", pbx=pbx)
    france = RouteRule.objects.create(name="France", prefix="33")
    RouteTarget.objects.create(rule=france, carrier=alpha, order=0)
    RouteTarget.objects.create(rule=france, carrier=beta, order=1)
    return france


def messages(browser: Browser) -> str:
    return " ".join(browser.texts(".messagelist li"))


def route_tester(browser: Browser, source_ip: str, from_uri: str, to_uri: str) -> str:
    """Ask the route tester through its form; the text of the answer."""
    browser.go("/admin/route-tester/")
    browser.fill("#id_source_ip", source_ip)
    browser.fill("#id_from_uri", from_uri)
    browser.fill("#id_to_uri", to_uri)
    browser.submit("#content form [type=submit]")
    return browser.text("#content")


def test_add_a_carrier_with_a_gateway(admin_browser: Browser) -> None:
    browser = admin_browser
    browser.go("/admin/routing/carrier/add/")
    browser.fill("#id_name", "Delta Networks")
    browser.fill("#id_gateways-0-name", "delta-1")
    browser.fill("#id_gateways-0-host", "192.0.2.50")
    browser.submit(SAVE)

    assert browser.path == "/admin/routing/carrier/", messages(browser)
    assert "Delta Networks" in messages(browser)
    assert "Delta Networks" in browser.text("#result_list")
    gateway = Carrier.objects.get(name="Delta Networks").gateways.get()
    assert (gateway.name, gateway.host, gateway.port) == ("delta-1", "192.0.2.50", 5060)


def test_add_a_rule_with_two_weighted_targets_and_the_route_tester_answers_for_it(
    admin_browser: Browser, routing_data: RouteRule
) -> None:
    browser = admin_browser
    browser.go("/admin/routing/routerule/add/")
    browser.fill("#id_name", "Germany")
    browser.fill("#id_prefix", "49")
    browser.fill("#id_targets-0-order", "0")
    browser.choose("#id_targets-0-carrier", "Alpha Telecom")
    browser.fill("#id_targets-0-weight", "70")
    browser.click("#targets-group .add-row a")
    browser.fill("#id_targets-1-order", "0")
    browser.choose("#id_targets-1-carrier", "Beta Voice")
    browser.fill("#id_targets-1-weight", "30")
    browser.submit(SAVE)

    assert browser.path == "/admin/routing/routerule/", browser.text("#content")
    assert "Germany" in messages(browser)
    rule = RouteRule.objects.get(name="Germany")
    assert sorted((t.order, t.carrier.name, t.weight) for t in rule.targets.all()) == [
        (0, "Alpha Telecom", 70),
        (0, "Beta Voice", 30),
    ]

    # Acme's PBX calls a German number: the new rule, both carriers' gateways.
    answer = route_tester(browser, ACME_PBX, "sip:33123456789@10.10.0.10", "sip:4930123456@x")
    assert "200 OK" in answer
    assert "'Germany'" in answer
    for host in ("203.0.113.10", "203.0.113.11", "192.0.2.20"):
        assert host in answer, f"gateway {host} missing from the answer:\n{answer}"


def test_csv_import_that_succeeds(
    admin_browser: Browser, routing_data: RouteRule, tmp_path: Path
) -> None:
    upload = tmp_path / "rules.csv"
    upload.write_text(
        "name,prefix,targets\n"
        "Spain,34,carrier:Alpha Telecom@0/60;carrier:Beta Voice@0/40\n"
        "Italy,39,gateway:Beta Voice/beta-1\n"
    )
    browser = admin_browser
    browser.go("/admin/routing/routerule/")
    with browser.navigation("the import page"):
        browser.click("a[href$='/routerule/import-csv/']")
    browser.find("input[type=file]").send_keys(str(upload))
    browser.submit("#content form [type=submit]")

    assert browser.path == "/admin/routing/routerule/", browser.text("#content")
    assert "Imported “rules.csv”: 2 route rules were created." in messages(browser)
    listed = browser.text("#result_list")
    assert "Spain" in listed and "Italy" in listed
    spain = RouteRule.objects.get(name="Spain", prefix="34")
    assert sorted((t.carrier.name, t.weight) for t in spain.targets.all()) == [
        ("Alpha Telecom", 60),
        ("Beta Voice", 40),
    ]


def test_csv_import_that_fails_shows_each_line_and_field(
    admin_browser: Browser, routing_data: RouteRule, tmp_path: Path
) -> None:
    upload = tmp_path / "bad.csv"
    upload.write_text(
        "name,prefix,targets\n"
        "Fine,35,carrier:Alpha Telecom\n"
        "Letters,12ab,carrier:Alpha Telecom\n"
        "Nobody,36,carrier:No Such Carrier\n"
    )
    browser = admin_browser
    browser.go("/admin/routing/routerule/import-csv/")
    browser.find("input[type=file]").send_keys(str(upload))
    browser.submit("#content form [type=submit]")

    assert browser.path == "/admin/routing/routerule/import-csv/"
    rows = browser.table("#import-errors")
    assert rows[0] == ["Line", "Field", "Problem"]
    problems = {(line, field): problem for line, field, problem in rows[1:]}
    assert set(problems) == {("3", "prefix"), ("4", "targets")}, rows
    assert "No Such Carrier" in problems[("4", "targets")]
    assert not RouteRule.objects.filter(name__in=["Fine", "Letters", "Nobody"]).exists()


def test_ported_numbers_upload_preview_then_apply(
    admin_browser: Browser, routing_data: RouteRule, tmp_path: Path
) -> None:
    from routing.models import PortedNumber

    PortedNumber.objects.create(number="33612345600", lrn="33700000009")  # not in the file
    upload = tmp_path / "ported.csv"
    upload.write_text("number,lrn\n33612345678,33700000001\n")
    browser = admin_browser
    browser.go("/admin/routing/portednumber/")
    with browser.navigation("the import page"):
        browser.click("a[href$='/portednumber/import-csv/']")
    assert "effective_from" in browser.text("#csv-format-help")
    browser.find("input[type=file]").send_keys(str(upload))
    browser.submit("#content form [type=submit]")  # Preview only is ticked at first
    assert browser.path == "/admin/routing/portednumber/", browser.text("#content")
    assert (
        "Preview of “ported.csv” (full): 1 rows: 1 new, 0 changed, 1 removed, 0 unchanged. "
        "Nothing was written"
    ) in messages(browser)
    assert list(PortedNumber.objects.values_list("number", flat=True)) == ["33612345600"]

    browser.go("/admin/routing/portednumber/import-csv/")
    browser.find("input[type=file]").send_keys(str(upload))
    browser.click("#id_dry_run")  # untick: apply
    browser.submit("#content form [type=submit]")
    assert "Imported “ported.csv” (full): 1 rows: 1 new, 0 changed, 1 removed" in messages(browser)
    assert "33612345678" in browser.text("#result_list")
    assert list(PortedNumber.objects.values_list("number", "lrn")) == [
        ("33612345678", "33700000001")
    ]


def test_the_rules_history_shows_a_target_change(
    admin_browser: Browser, routing_data: RouteRule
) -> None:
    france = routing_data
    browser = admin_browser
    browser.go(f"/admin/routing/routerule/{france.pk}/change/")
    # France: Alpha first, then Beta; Beta becomes Gamma.
    carriers = [browser.find(f"#id_targets-{i}-carrier") for i in range(2)]
    second = next(
        i for i, select in enumerate(carriers) if "Beta Voice" in select.get_attribute("innerHTML")
    )
    browser.choose(f"#id_targets-{second}-carrier", "Gamma Carrier")
    browser.submit(SAVE)
    assert "France" in messages(browser)

    browser.go(f"/admin/routing/routerule/{france.pk}/history/")
    history = browser.text("#content")
    assert "None" not in history, history  # no literal None as a change reason
    rows = browser.table("#target-history table")
    assert [
        rows[1][2],
        rows[1][3],
        rows[1][5],
    ] == ["Changed", "admin", "carrier: Beta Voice → Gamma Carrier"], rows


def test_the_api_docs_load_after_login(browser: Browser, admin_user: object) -> None:
    browser.go("/api/docs/")
    assert browser.path.startswith("/admin/login/"), "the API docs are not public"
    log_in(browser, admin_user)

    browser.go("/api/docs/")
    # Swagger UI (our static files) fetches the schema (generated at the first request).
    browser.wait(
        lambda d: len(d.find_elements("css selector", ".swagger-ui .opblock")) > 10,
        "Swagger UI to list the API's operations",
        timeout=60,
    )
    assert "c4router API" in browser.text(".swagger-ui .info")
    assert "/api/v1/route-rules/" in browser.text(".swagger-ui")


ROUTE_TESTER = "/admin/route-tester/?" + urlencode(
    {
        "source_ip": ACME_PBX,
        "from_uri": "sip:33123456789@10.10.0.10",
        "to_uri": "sip:33612345678@x",
    }
)


@pytest.mark.parametrize("path", ["/admin/", ROUTE_TESTER], ids=["index", "route-tester"])
def test_no_horizontal_overflow_at_1366(
    admin_browser: Browser, routing_data: RouteRule, path: str
) -> None:
    admin_browser.go(path)
    if path == ROUTE_TESTER:
        assert "200 OK" in admin_browser.text("#content")  # the page with its answer
    admin_browser.assert_no_horizontal_overflow(1366)


def test_the_rule_list_shows_steps_and_weights_without_horizontal_overflow_at_1366(
    admin_browser: Browser, routing_data: RouteRule
) -> None:
    germany = RouteRule.objects.create(name="Germany", prefix="49", priority=7)
    for name, weight in (("Alpha Telecom", 60), ("Gamma Carrier", 40)):
        RouteTarget.objects.create(
            rule=germany, carrier=Carrier.objects.get(name=name), order=0, weight=weight
        )
    beta = Carrier.objects.get(name="Beta Voice")
    RouteTarget.objects.create(rule=germany, carrier=beta, order=5)

    admin_browser.go("/admin/routing/routerule/")
    admin_browser.assert_no_horizontal_overflow(1366)
    # Each row's cells as rendered (a step per line).
    rows = {
        cells[1]: cells
        for cells in (
            [cell.text for cell in row.find_elements("css selector", "th, td")]
            for row in admin_browser.driver.find_elements("css selector", "#result_list tbody tr")
        )
    }
    assert set(rows) == {"France", "Germany"}, rows
    # Columns: checkbox, rule, which calls, targets, priority, enabled.
    germany_row = rows["Germany"]
    # (Selenium reads the non-breaking spaces before the shares as spaces.)
    assert germany_row[3] == "1. Alpha Telecom 60% · Gamma Carrier 40%\n2. Beta Voice", germany_row
    assert germany_row[4] == "7"
    assert rows["France"][3] == "1. Alpha Telecom\n2. Beta Voice"
    # Priority and enabled are in view, not behind a scrollbar.
    enabled = admin_browser.find("#result_list input[name$='-enabled']")
    assert enabled.is_displayed() and enabled.rect["x"] + enabled.rect["width"] <= 1366


def test_the_carrier_page_gateway_rows_fit_at_1366(
    admin_browser: Browser, routing_data: RouteRule
) -> None:
    alpha = Carrier.objects.get(name="Alpha Telecom")
    admin_browser.go(f"/admin/routing/carrier/{alpha.pk}/change/")
    assert admin_browser.find("#id_gateways-0-host").get_attribute("value") == "203.0.113.10"
    admin_browser.assert_no_horizontal_overflow(1366)
