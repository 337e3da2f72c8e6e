"""An exchange rate added as an operator does it in the browser: the admin index ->
Exchange rates -> Add -> the base currency refused with its reason -> EUR saved -> listed."""

from __future__ import annotations

from decimal import Decimal

import pytest

from routing.models import ExchangeRate
from tests.browser.driver import Browser

pytestmark = pytest.mark.browser


def test_add_an_exchange_rate(admin_browser: Browser, browser_db: None) -> None:
    browser = admin_browser
    browser.go("/admin/")
    with browser.navigation("the exchange rates list"):
        browser.click_link("Exchange rates")
    assert browser.path == "/admin/routing/exchangerate/"
    with browser.navigation("the add page"):
        browser.click(".object-tools a.addlink")
    browser.fill("#id_currency", "USD")
    browser.fill("#id_rate", "1")
    with browser.navigation("the refusal"):
        browser.submit("input[name=_save]")
    assert "USD is the base currency" in browser.text(".errorlist")
    browser.fill("#id_currency", "EUR")
    browser.fill("#id_rate", "1.08")
    with browser.navigation("the list"):
        browser.submit("input[name=_save]")
    assert browser.path == "/admin/routing/exchangerate/"
    assert "1.08 USD" in browser.text("#result_list")
    assert ExchangeRate.objects.get(currency="EUR").rate == Decimal("1.08")
