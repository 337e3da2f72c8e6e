"""The admin's Traffic pages (routing/admin_traffic.py) on records stored as the ingester
stores them: what the tables and the charts' data say, the range selector, the links, the
empty state, who may see them, and that no page reads the records table itself."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.contrib.staticfiles import finders
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from routing.cdr.records import parse_message
from routing.cdr.store import store_rows
from routing.models import CallRecord, Carrier, Gateway, Tenant

from .samples import ROUTE_2, answered_attempt, body, call, failed_attempt

pytestmark = pytest.mark.django_db

NOW = datetime.now(UTC).replace(microsecond=0)
TRAFFIC = "/admin/traffic/"


@pytest.fixture
def names() -> dict[str, object]:
    """The tenant, carriers and gateways the sample records name (ids 1, 10/11, 20/21)."""
    acme = Tenant.objects.create(pk=1, name="Acme Corp")
    alpha = Carrier.objects.create(pk=10, name="Alpha Telecom")
    beta = Carrier.objects.create(pk=11, name="Beta Voice")
    Gateway.objects.create(pk=20, carrier=alpha, name="alpha-1", host="192.0.2.1")
    Gateway.objects.create(pk=21, carrier=beta, name="beta-1", host="192.0.2.2")
    return {"acme": acme, "alpha": alpha, "beta": beta}


def store_call(ago: timedelta, call_id: str) -> None:
    """A call as Kamailio reports it: Alpha's 503 (attempt 1), Beta's 200 (attempt 2),
    and the call record."""
    start = (NOW - ago).timestamp()
    messages = (failed_attempt(start, call_id), answered_attempt(start, call_id),
                call(start, call_id))  # fmt: skip
    assert store_rows([parse_message(body(m)) for m in messages]) == 3


@pytest.fixture
def traffic(names) -> dict[str, object]:
    """Two calls about 20 minutes ago, in the same 5-minute bucket whatever the clock says
    (20 and 21 minutes ago straddle a bucket's edge one minute in five), one 3 hours ago."""
    edge = (NOW - timedelta(minutes=20)).timestamp() // 300 * 300  # that bucket's start
    first = NOW - datetime.fromtimestamp(edge + 60, UTC)
    store_call(first, "c-1")
    store_call(first - timedelta(seconds=60), "c-2")
    store_call(timedelta(hours=3), "c-3")
    return names


@pytest.fixture
def staff() -> Client:
    """A staff user who may view call records, and nothing else."""
    user = get_user_model().objects.create_user("operator", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_callrecord"))
    client = Client()
    client.force_login(user)
    return client


def chart_data(html: str) -> dict:
    found = re.search(r'<script id="traffic-data" type="application/json">(.*?)</script>', html)
    assert found, "the page carries no chart data"
    return json.loads(found.group(1))


def rows_of(html: str, table_id: str) -> list[list[str]]:
    """The body rows of a table, as the text of their cells."""
    section = html.split(f'id="{table_id}"', 1)[1].split("</table>", 1)[0]
    body_html = section.split("<tbody>", 1)[1]
    rows = []
    for row in re.findall(r"<tr>(.*?)</tr>", body_html, re.S):
        cells = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
        rows.append([unescape(re.sub(r"<[^>]+>", "", cell)).strip() for cell in cells])
    return rows


def test_the_traffic_page_sums_the_calls_of_the_range(staff, traffic):
    page = staff.get(TRAFFIC, {"range": "6h"})
    assert page.status_code == 200
    html = page.content.decode()
    # Calls, answered, attempts, ASR: 3 calls answered after 6 attempts.
    assert re.search(r"<td>3</td><td>3</td><td>6</td>\s*<td>50.0 %</td>", html), html

    data = chart_data(html)
    series = data["series"]
    assert series["step"] == 300 and len(series["t"]) == 72
    assert sum(series["answered"]) == 3 and sum(series["failed_5xx"]) == 3
    assert sum(round(value * 300) for value in series["calls_per_s"]) == 3
    assert {c["name"]: c["day"]["attempts"] for c in data["carriers"]} == {
        "Alpha Telecom": 3, "Beta Voice": 3,
    }  # fmt: skip
    assert data["codes"] == [{"code": 503, "attempts": 3}]
    assert data["customers"] == [{"name": "Acme Corp", "calls": 3}]

    # Carriers: the last hour (the two recent calls) beside the last day (all three).
    carriers = rows_of(html, "traffic-carriers")
    alpha = next(row for row in carriers if row[0] == "Alpha Telecom")
    beta = next(row for row in carriers if row[0] == "Beta Voice")
    assert (alpha[1], alpha[2], alpha[5], alpha[6]) == ("2", "0.0 %", "3", "0.0 %")
    assert (beta[1], beta[2], beta[3], beta[5]) == ("2", "100.0 %", "60.5 s", "3")
    assert rows_of(html, "traffic-customers")[0][:3] == ["Acme Corp", "3", "3"]
    assert rows_of(html, "traffic-codes") == [["503", "3"]]


def test_the_range_selector_and_an_end_in_the_past(staff, traffic):
    last_hour = chart_data(staff.get(TRAFFIC, {"range": "1h"}).content.decode())
    assert sum(last_hour["series"]["answered"]) == 2
    week = chart_data(staff.get(TRAFFIC, {"range": "7d"}).content.decode())
    assert week["series"]["step"] == 3600 and sum(week["series"]["answered"]) == 3
    # The hour that ended 2.5 hours ago holds the older call only.
    end = (NOW - timedelta(hours=2, minutes=30)).isoformat()
    past = staff.get(TRAFFIC, {"range": "1h", "end": end}).content.decode()
    assert sum(chart_data(past)["series"]["answered"]) == 1
    assert "(now)" not in past
    # The selector keeps the end, and marks the range shown.
    links = re.findall(r'<li><a href="([^"]+)"( class="current")?', past)
    assert [(unescape(href), bool(current)) for href, current in links][:2] == [
        ("?" + "range=1h&end=" + end.replace(":", "%3A").replace("+", "%2B"), True),
        ("?" + "range=6h&end=" + end.replace(":", "%3A").replace("+", "%2B"), False),
    ]  # fmt: skip


def test_a_carrier_page_and_a_tenant_page(staff, traffic):
    alpha, beta, acme = traffic["alpha"], traffic["beta"], traffic["acme"]
    html = staff.get(f"/admin/traffic/carrier/{alpha.pk}/", {"range": "6h"}).content.decode()
    data = chart_data(html)
    assert sum(round(value * 300) for value in data["series"]["attempts_per_s"]) == 3
    assert sum(data["series"]["answered"]) == 0 and sum(data["series"]["failed_5xx"]) == 3
    assert data["parts"] == [{"name": "alpha-1", "attempts": 3}]
    assert data["codes"] == [{"code": 503, "attempts": 3}]
    assert f'href="/admin/routing/carrier/{alpha.pk}/change/"' in html

    beta_page = staff.get(f"/admin/traffic/carrier/{beta.pk}/", {"range": "6h"})
    beta_data = chart_data(beta_page.content.decode())
    assert [v for v in beta_data["series"]["asr"] if v is not None] == [100.0, 100.0]
    assert beta_data["codes"] == []

    tenant_html = staff.get(f"/admin/traffic/tenant/{acme.pk}/", {"range": "6h"}).content
    parts = rows_of(tenant_html.decode(), "traffic-parts")
    assert [row[:4] for row in parts] == [
        ["Alpha Telecom", "3", "0", "0.0 %"], ["Beta Voice", "3", "3", "100.0 %"],
    ]  # fmt: skip
    assert f'href="/admin/traffic/carrier/{alpha.pk}/?range=6h"' in tenant_html.decode()

    assert staff.get("/admin/traffic/carrier/999999/").status_code == 404


def test_the_tables_link_to_the_pages_and_the_failure_codes_to_their_records(staff, traffic):
    html = staff.get(TRAFFIC, {"range": "6h"}).content.decode()
    alpha = traffic["alpha"]
    assert f'href="/admin/traffic/carrier/{alpha.pk}/?range=6h"' in html
    assert f'href="/admin/traffic/tenant/{traffic["acme"].pk}/?range=6h"' in html
    link = unescape(re.search(r'<th><a href="([^"]+)">503</a>', html).group(1))
    # The list the link opens: the 503 attempts of the range (a superuser reads it).
    admin = Client()
    admin.force_login(get_user_model().objects.create_superuser("root"))
    listing = admin.get(link)
    assert listing.status_code == 200, link
    assert listing.context["cl"].result_count == 3
    assert {r.sip_code for r in listing.context["cl"].result_list} == {503}


def test_no_page_reads_the_records_table(staff, traffic):
    table = CallRecord._meta.db_table
    for path in (TRAFFIC, f"/admin/traffic/carrier/{traffic['alpha'].pk}/",
                 f"/admin/traffic/tenant/{traffic['acme'].pk}/"):  # fmt: skip
        with CaptureQueriesContext(connection) as queries:
            assert staff.get(path, {"range": "7d"}).status_code == 200
        assert not [q["sql"] for q in queries.captured_queries if table in q["sql"]], path


def test_no_calls_in_the_range_says_how_to_get_a_demo_day(staff, names):
    html = staff.get(TRAFFIC).content.decode()
    assert "No calls in this range" in html and "manage.py seed_demo --traffic" in html
    assert 'id="traffic-data"' not in html and "plotly" not in html
    carrier = staff.get(f"/admin/traffic/carrier/{names['alpha'].pk}/").content.decode()
    assert "No calls in this range" in carrier


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"range": "2w"}, "Select a valid choice"),
        ({"end": "yesterday"}, "Enter a valid date/time"),
        ({"end": "1800-01-01T00:00"}, "between the years 2000 and 2999"),
    ],
)
def test_a_malformed_range_is_a_clear_error(staff, traffic, query, message):
    page = staff.get(TRAFFIC, query)
    assert page.status_code == 400
    assert message in page.content.decode() and 'id="traffic-data"' not in page.content.decode()


def test_staff_only_and_with_the_records_permission(client, db):
    anonymous = client.get(TRAFFIC)
    assert anonymous.status_code == 302 and "/admin/login/" in anonymous["Location"]
    user = get_user_model().objects.create_user("nobody-special", is_staff=True)
    client.force_login(user)
    for path in (TRAFFIC, "/admin/traffic/carrier/1/", "/admin/traffic/tenant/1/"):
        assert client.get(path).status_code == 403, path


def test_the_admin_links_to_the_traffic_pages(staff, names):
    admin = Client()
    admin.force_login(get_user_model().objects.create_superuser("root"))
    index = admin.get("/admin/").content.decode()
    assert 'href="/admin/traffic/"' in index.split('id="c4router-tools"')[1]
    alpha = admin.get(f"/admin/routing/carrier/{names['alpha'].pk}/change/").content.decode()
    assert 'href="/admin/traffic/"' in alpha.split('id="nav-sidebar"')[1]  # the sidebar
    assert f'href="/admin/traffic/carrier/{names["alpha"].pk}/"' in alpha
    acme = admin.get(f"/admin/routing/tenant/{names['acme'].pk}/change/").content.decode()
    assert f'href="/admin/traffic/tenant/{names["acme"].pk}/"' in acme
    # A user without the records permission is not offered the page.
    other = get_user_model().objects.create_user("routing-only", is_staff=True)
    other.user_permissions.add(Permission.objects.get(codename="view_routerule"))
    client = Client()
    client.force_login(other)
    assert 'href="/admin/traffic/"' not in client.get("/admin/").content.decode()


def test_plotly_js_comes_from_the_plotly_package():
    import plotly

    found = finders.find("plotly/plotly.min.js")
    assert found and found.startswith(str(plotly.__path__[0]))
    with open(found, encoding="utf-8") as file:
        assert file.read(200).lstrip().startswith("/**\n* plotly.js v")


def test_a_carriers_inbound_calls_have_their_own_row_on_its_page(staff, names):
    """Calls a carrier brings in are counted under it with no gateway (their routes go to
    a PBX): its page names that row."""
    start = (NOW - timedelta(minutes=10)).timestamp()
    inbound = {"dir": "in", "tenant": 1, "pbx": 2, "carrier": 10, "rule": None,
               "callee": "33123456789", "caller": "33612345678"}  # fmt: skip
    to_pbx = {"attempt": 1, "rule": None, "carrier": None, "gateway": None, "pbx": 2,
              "to": "0123456789", "from": "0612345678"}  # fmt: skip
    messages = (answered_attempt(start, "in-1", j_call=inbound, j_route=to_pbx, attempt="1"),
                call(start, "in-1", j_call=inbound, j_route=to_pbx, attempts="1"))  # fmt: skip
    assert store_rows([parse_message(body(m)) for m in messages]) == 2
    html = staff.get(f"/admin/traffic/carrier/{names['alpha'].pk}/", {"range": "1h"})
    rows = rows_of(html.content.decode(), "traffic-parts")
    assert [row[:4] for row in rows] == [["(calls from this carrier)", "1", "1", "100.0 %"]]


def money_rows(html: str, tbody_id: str) -> list[list[str]]:
    """The lines of one part of the money table (after its title line)."""
    section = html.split(f'<tbody id="{tbody_id}">', 1)[1].split("</tbody>", 1)[0]
    rows = []
    for row in re.findall(r"<tr>(.*?)</tr>", section, re.S)[1:]:
        cells = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
        rows.append([unescape(re.sub(r"<[^>]+>", "", cell)).strip() for cell in cells])
    return rows


LCR_ROUTE = {**ROUTE_2, "rate": "0.0125", "currency": "EUR", "fee": "0.05", "inc": "30/6",
             "sell": "0.02", "sinc": "60/60"}  # fmt: skip


def test_the_pages_show_cost_revenue_and_margin_per_carrier_and_customer(staff, traffic):
    # Two answered least-cost calls through Beta (60.5 s each: cost 0.06375, revenue 0.04),
    # besides the fixture's three calls, which no least-cost rule priced.
    start = (NOW - timedelta(minutes=30)).timestamp()
    store_rows(
        [parse_message(body(call(start + n, f"lcr-{n}", j_route=LCR_ROUTE))) for n in (0, 1)]
    )
    html = staff.get(TRAFFIC, {"range": "6h"}).content.decode()
    header = ["Currency", "Priced calls", "Billed minutes", "Cost", "Revenue", "Margin", "Margin %"]
    assert all(f">{name}</th>" in html for name in header)
    line = ["EUR", "2", "2.2", "0.1275", "0.0800", "-0.0475", "-59.4 %"]
    assert money_rows(html, "money-total") == [["all", *line]]
    assert money_rows(html, "money-carrier") == [["Beta Voice", *line]]
    assert money_rows(html, "money-tenant") == [["Acme Corp", *line]]
    beta, acme = traffic["beta"], traffic["acme"]
    assert f'href="/admin/traffic/carrier/{beta.pk}/?range=6h">Beta Voice' in html
    # The money chart: per currency, the step of the two calls and zeros elsewhere (no
    # revenue or margin where no call had a customer rate).
    assert 'id="chart-money"' in html
    series = chart_data(html)["series"]
    assert list(series["money"]) == ["EUR"]
    eur = series["money"]["EUR"]
    assert len(eur["cost"]) == len(series["t"])
    priced = [n for n, cost in enumerate(eur["cost"]) if cost]
    assert [eur[key][n] for n in priced for key in ("cost", "revenue", "margin")] in (
        [0.1275, 0.08, -0.0475],  # both calls in one 5-minute step
        [0.0638, 0.04, -0.0238, 0.0638, 0.04, -0.0238],  # a second apart, across a step
    )
    assert all(eur["revenue"][n] is None for n in range(len(eur["cost"])) if n not in priced)
    # A carrier's page: its money per customer; a customer's: per carrier.
    beta_html = staff.get(f"/admin/traffic/carrier/{beta.pk}/", {"range": "6h"}).content.decode()
    assert money_rows(beta_html, "money-tenant") == [["Acme Corp", *line]]
    acme_html = staff.get(f"/admin/traffic/tenant/{acme.pk}/", {"range": "6h"}).content.decode()
    assert money_rows(acme_html, "money-carrier") == [["Beta Voice", *line]]
    # Alpha answered nothing: no money on its page.
    alpha_html = staff.get(f"/admin/traffic/carrier/{traffic['alpha'].pk}/", {"range": "6h"})
    assert 'id="traffic-money"' not in alpha_html.content.decode()
    assert 'id="chart-money"' not in alpha_html.content.decode()
    assert chart_data(alpha_html.content.decode())["series"]["money"] == {}
    assert list(chart_data(beta_html)["series"]["money"]) == ["EUR"]
