"""The server's log stays quiet while an operator works (issue 12, item 11).

Each admin page used to log a favicon 404, a "StreamingHttpResponse must consume synchronous
iterators" warning per static file, and the carrier picker an UnorderedObjectListWarning.
The browser visits what an operator visits under the real ASGI server (uvicorn), and the
server's own log of that time is read.
"""

from __future__ import annotations

import pytest

from routing.models import Carrier, Gateway, RouteRule, RouteTarget
from tests.browser.driver import Browser
from tests.live import C4RouterServer

pytestmark = pytest.mark.browser

NOISE = (
    "Not Found: /favicon.ico",
    "StreamingHttpResponse must consume",
    "UnorderedObjectListWarning",
    "Warning:",
    "Traceback",
)


def test_an_operators_pages_log_nothing_but_table_builds(
    admin_browser: Browser, browser_server: C4RouterServer
) -> None:
    alpha = Carrier.objects.create(name="Alpha Telecom")
    Gateway.objects.create(carrier=alpha, name="alpha-1", host="203.0.113.10")
    Carrier.objects.create(name="Beta Voice")
    france = RouteRule.objects.create(name="France", prefix="33")
    RouteTarget.objects.create(rule=france, carrier=alpha, order=0)
    start = len(browser_server.log_text())
    browser = admin_browser

    browser.go("/admin/")
    # The browser asks for the icon by itself; ask as it does, to wait for the answer.
    icon = browser.driver.execute_async_script(
        "fetch('/favicon.ico')"
        ".then(r => arguments[0](r.status + ' ' + r.headers.get('content-type')))"
    )
    assert icon in {"200 image/x-icon", "200 image/vnd.microsoft.icon"}
    browser.go(f"/admin/routing/routerule/{france.pk}/change/")
    # The carrier picker of a target: the list it pages must be ordered.
    browser.choose("#id_targets-0-carrier", "Beta Voice")
    browser.go("/admin/routing/carrier/")
    browser.go("/admin/route-tester/?source_ip=10.10.0.10&to_uri=sip%3A33612345678%40x")
    # The CSV export, streamed or not, read whole as a download would.
    exported = browser.driver.execute_async_script(
        "fetch('/admin/routing/routerule/export-csv/').then(r => r.text()).then(arguments[0])"
    )
    assert "France" in exported

    log = browser_server.log_text()[start:]
    noisy = [line for line in log.splitlines() if any(word in line for word in NOISE)]
    assert noisy == [], f"the server logged while the operator worked:\n{log[-3000:]}"
