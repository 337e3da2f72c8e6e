"""The route tester as an operator meets it (issue 12, item 3): on the index and in the
sidebar, readable at laptop and desktop widths; a form like the admin's with room for a SIP
URI and a date-time picker; the answer once; rules passed over for their time window."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from routing.models import RouteRule
from tests.browser.driver import Browser
from tests.browser.test_operator import ACME_PBX, routing_data  # noqa: F401 - the fixture

pytestmark = pytest.mark.browser


@contextmanager
def viewport(browser: Browser, width: int, height: int = 1000) -> Iterator[None]:
    browser.driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
    )
    try:
        browser.wait(
            lambda d: d.execute_script("return window.innerWidth") == width,
            f"the viewport to be {width}px wide",
        )
        yield
    finally:
        browser.driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def one_line(element) -> bool:  # type: ignore[no-untyped-def]
    """Whether a link's text sits on one line (the bug: a 24 px column, a letter a line)."""
    rects = element.parent.execute_script("return arguments[0].getClientRects().length", element)
    return rects == 1


@pytest.mark.parametrize("width", [1400, 1920])
def test_the_index_and_the_sidebar_offer_the_route_tester_on_one_line(
    admin_browser: Browser, width: int
) -> None:
    browser = admin_browser
    with viewport(browser, width):
        browser.go("/admin/")
        link = browser.find("#content-main #c4router-tools th a")
        assert link.text == "Route tester"
        assert one_line(link) and link.size["width"] > 60, link.size
        browser.go("/admin/routing/carrier/")
        link = browser.find("#nav-sidebar #c4router-tools a[href='/admin/route-tester/']")
        assert link.is_displayed() and one_line(link)
        with browser.navigation("the route tester"):
            link.click()
        assert browser.path == "/admin/route-tester/"
        # The sidebar marks where the operator is.
        assert browser.exists("#nav-sidebar .model-routetester.current-model")


def test_the_route_tester_form_and_a_closed_window(
    admin_browser: Browser,
    routing_data: RouteRule,  # noqa: F811 - the fixture
) -> None:
    france = routing_data
    france.weekdays = "12345"  # weekdays only
    france.save()
    browser = admin_browser
    browser.go("/admin/route-tester/")
    for name in ("source_ip", "from_uri", "to_uri"):
        width = browser.find(f"#id_{name}").size["width"]
        assert width >= 300, f"{name} is {width}px wide: too narrow for a SIP URI"
    at = browser.find("#id_at")
    assert at.get_attribute("type") == "datetime-local"  # Chromium's date-time picker
    help_text = browser.text("#route-tester-form")
    assert "YYYY-MM-DD HH:MM" in help_text and "UTC" in help_text

    browser.fill("#id_source_ip", ACME_PBX)
    browser.fill("#id_from_uri", "sip:33123456789@10.10.0.10")
    browser.fill("#id_to_uri", "sip:33612345678@x")
    saturday = datetime.datetime(2026, 11, 28, 10, 30)
    browser.driver.execute_script(
        "arguments[0].value = arguments[1]", at, saturday.strftime("%Y-%m-%dT%H:%M")
    )
    browser.submit("#route-tester-form [type=submit]")

    content = browser.text("#content")
    assert content.count("404 No Route") == 1, content  # the answer, once
    assert browser.text("#route-answer-code") == "Answer: 404 No Route"
    explanation = browser.texts("#route-explanation li")
    assert (
        f"Skipped: rule #{france.pk} 'France' (prefix '33', global): its time window "
        "(days 12345 UTC) is closed at Saturday 10:30 local time"
    ) in explanation, explanation
    # The picker keeps the time asked for.
    assert browser.find("#id_at").get_attribute("value") == "2026-11-28T10:30"
