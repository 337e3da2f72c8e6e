"""The browser harness itself: CI fails, rather than skips, without Chromium."""

from __future__ import annotations

import pytest

from tests.browser import conftest


def test_without_chromium_the_browser_tests_fail_under_require_browser(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(conftest, "missing", lambda: ["chromium"])
    monkeypatch.setenv("C4ROUTER_REQUIRE_BROWSER", "1")
    with pytest.raises(pytest.fail.Exception, match="C4ROUTER_REQUIRE_BROWSER=1 but browser"):
        conftest._require_chromium()


def test_without_chromium_the_browser_tests_are_skipped_elsewhere(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(conftest, "missing", lambda: ["chromium"])
    monkeypatch.delenv("C4ROUTER_REQUIRE_BROWSER", raising=False)
    with pytest.raises(pytest.skip.Exception, match="bin/install-browser"):
        conftest._require_chromium()


def test_with_chromium_nothing_is_said(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(conftest, "missing", lambda: [])
    monkeypatch.setenv("C4ROUTER_REQUIRE_BROWSER", "1")
    conftest._require_chromium()
