"""The Traffic pages' capacity table (routing/admin_traffic.py): each limit of the page, its
calls in progress and refusals as Kamailio's script (kamailio_cfg/capacity.lua, run by the
real Redis here, as Kamailio runs it) counted them, read where /metrics reads them.

Redis database 15 (test_counters' store fixture), emptied before and after each test.
"""

from __future__ import annotations

import re
from html import unescape

import pytest
import redis
from django.contrib.auth import get_user_model
from django.test import Client

from routing.models import Carrier, Gateway, IpSource, Pbx, Tenant

from .test_counters import DB, runner, store  # noqa: F401 - a fixture

pytestmark = pytest.mark.django_db

TRAFFIC = "/admin/traffic/"


@pytest.fixture
def on(settings) -> None:  # type: ignore[no-untyped-def]
    settings.C4ROUTER_CAPACITY = {**settings.C4ROUTER_CAPACITY, "ENABLED": True, "REDIS_DB": DB}


@pytest.fixture
def staff() -> Client:
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("root"))
    return client


@pytest.fixture
def limits() -> dict[str, object]:
    acme = Tenant.objects.create(name="Acme", max_calls=2)
    hq = Pbx.objects.create(tenant=acme, name="hq", host="192.0.2.50", max_cps=10)
    IpSource.objects.create(cidr="192.0.2.50/32", pbx=hq)  # no limit: not listed
    Tenant.objects.create(name="Globex")  # no limit
    alpha = Carrier.objects.create(name="Alpha", max_calls=5)
    gw = Gateway.objects.create(carrier=alpha, name="alpha-1", host="203.0.113.10", max_cps=30)
    return {"acme": acme, "hq": hq, "alpha": alpha, "gw": gw}


def capacity_rows(html: str) -> list[list[str]]:
    section = html.split('id="traffic-capacity"', 1)[1].split("</table>", 1)[0]
    rows = []
    for row in re.findall(r"<tr data-limit[^>]*>(.*?)</tr>", section, re.S):
        cells = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
        rows.append([unescape(re.sub(r"<[^>]+>", "", cell)).strip() for cell in cells])
    return rows


def note(html: str) -> str:
    found = re.search(r'<p class="help" id="traffic-capacity-note">(.*?)</p>', html, re.S)
    assert found, html
    return unescape(found.group(1))


def test_each_limit_shows_its_calls_in_progress_and_refusals(on, staff, limits, store):  # noqa: F811
    acme, hq, alpha = limits["acme"], limits["hq"], limits["alpha"]
    run = runner(store)
    # Acme's 2 places taken, a third call refused; one call on Alpha.
    for call in ("c1", "c2", "c3"):
        run("take", call, f"t{acme.pk}:2:- p{hq.pk}:-:10")
    run("take", "c1", f"c{alpha.pk}:5:-")
    html = staff.get(TRAFFIC).content.decode()  # no records in the range: still shown
    assert "No calls in this range" in html
    rows = capacity_rows(html)
    # The fullest first: Acme at 100 %, Alpha at 20 %, then the limits without calls.
    assert rows == [
        ["tenant", "Acme", "2 (100 %)", "2", "-", "1", "0"],
        ["carrier", "Alpha", "1 (20 %)", "5", "-", "0", "0"],
        ["PBX", "Acme / hq", "0", "-", "10", "0", "0"],
        ["gateway", "Alpha / alpha-1", "0", "-", "30", "0", "0"],
    ]
    assert f'href="/admin/routing/tenant/{acme.pk}/change/"' in html
    assert "Globex" not in html  # no limit, no row

    # A call's end gives its places back; the refusal stays counted.
    run("free", "c1", f"t{acme.pk}:2:- p{hq.pk}:-:10")
    assert capacity_rows(staff.get(TRAFFIC).content.decode())[0][:3] == [
        "tenant",
        "Acme",
        "1 (50 %)",
    ]


def test_a_carrier_page_and_a_tenant_page_show_their_own_limits(on, staff, limits, store):  # noqa: F811
    run = runner(store)
    run("take", "c1", f"g{limits['gw'].pk}:-:30")
    carrier = staff.get(f"/admin/traffic/carrier/{limits['alpha'].pk}/").content.decode()
    assert [row[:2] for row in capacity_rows(carrier)] == [
        ["carrier", "Alpha"], ["gateway", "Alpha / alpha-1"],
    ]  # fmt: skip
    tenant = staff.get(f"/admin/traffic/tenant/{limits['acme'].pk}/").content.decode()
    assert [row[:2] for row in capacity_rows(tenant)] == [["tenant", "Acme"], ["PBX", "Acme / hq"]]
    globex = Tenant.objects.get(name="Globex")
    page = staff.get(f"/admin/traffic/tenant/{globex.pk}/").content.decode()
    assert 'id="traffic-capacity"' not in page  # nothing limited on this page


def test_limits_off_or_redis_down_say_so(settings, staff, limits) -> None:
    settings.C4ROUTER_CAPACITY = {**settings.C4ROUTER_CAPACITY, "ENABLED": False}
    html = staff.get(TRAFFIC).content.decode()
    assert "The limits are not enforced: C4ROUTER_CAPACITY_ENABLED is off." in note(html)
    assert capacity_rows(html)[0] == ["tenant", "Acme", "-", "2", "-", "-", "-"]

    # Nothing listens on port 1: the page still answers, with the limits and no counters.
    settings.C4ROUTER_CAPACITY = {**settings.C4ROUTER_CAPACITY, "ENABLED": True, "REDIS_PORT": 1}
    page = staff.get(TRAFFIC)
    assert page.status_code == 200
    html = page.content.decode()
    assert note(html).startswith("Redis did not answer (ConnectionError)"), note(html)
    assert capacity_rows(html)[0][2] == "-"


def test_the_counters_come_from_the_metrics_reader(on, limits, store) -> None:  # noqa: F811
    # One reader for /metrics and the pages: the same figures for the same keys.
    from routing import capacity

    acme = limits["acme"]
    runner(store)("take", "c1", f"t{acme.pk}:2:-")
    assert capacity.counters([f"t{acme.pk}"], redis.Redis(db=DB)) == {
        f"t{acme.pk}": {"in_progress": 1, "refused_calls": 0, "refused_cps": 0}
    }
