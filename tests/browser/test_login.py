"""Logging in to the admin in a real browser."""

from __future__ import annotations

import pytest

from tests.browser.conftest import ADMIN_PASSWORD, ADMIN_USER
from tests.browser.driver import Browser

pytestmark = pytest.mark.browser


def test_login_opens_the_admin_index(browser: Browser, admin_user: object) -> None:
    browser.go("/")  # the site root sends a person to the admin, which asks to log in
    assert browser.path.startswith("/admin/login/"), browser.path
    browser.fill("#id_username", ADMIN_USER)
    browser.fill("#id_password", ADMIN_PASSWORD)
    browser.submit()

    assert browser.path == "/admin/"
    assert "Routing administration" in browser.text("#content")
    assert browser.exists("#user-tools"), "no user menu: not logged in"
    assert "Route tester" in browser.text("#content")


def test_wrong_password_is_refused_on_the_page(browser: Browser, admin_user: object) -> None:
    browser.go("/admin/login/")
    browser.fill("#id_username", ADMIN_USER)
    browser.fill("#id_password", "not-the-password")
    browser.submit()

    assert browser.path.startswith("/admin/login/")
    assert "Please enter the correct username and password" in browser.text(".errornote")
