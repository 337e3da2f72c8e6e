"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
from collections.abc import Generator

import pytest
from django.conf import settings


def pytest_sessionstart(session: pytest.Session) -> None:
    # In CI the suite must run on PostgreSQL: a silent fallback would hide a broken setup.
    if os.environ.get("C4ROUTER_REQUIRE_POSTGRES") == "1":
        engine = settings.DATABASES["default"]["ENGINE"]
        if engine != "django.db.backends.postgresql":
            raise pytest.UsageError(f"C4ROUTER_REQUIRE_POSTGRES=1 but the database is {engine}")


@pytest.fixture
def admin_user(django_user_model):  # type: ignore[no-untyped-def]
    return django_user_model.objects.create_superuser("admin", "admin@example.com", "secret-pass")


@pytest.fixture
def admin_client(client, admin_user):  # type: ignore[no-untyped-def]
    client.force_login(admin_user)
    return client


# --- end-to-end tests that did not run: said in the last lines of the run -------------------
# Without Kamailio, SIPp or http_async_client the e2e tests skip (tests/e2e/harness.py); a
# run with `-m "not e2e"` deselects them. Either way a green run would hide, thousands of
# lines up, that the product was never tried on the wire: say it last, above pytest's
# totals. bin/test passes why the install failed, when it did, in C4ROUTER_E2E_SETUP_ERROR.


class _E2E:
    selected: frozenset[str] = frozenset()
    ran = 0
    skipped: dict[str, int] = {}
    deselected = 0
    markexpr = ""


def pytest_deselected(items: list[pytest.Item]) -> None:
    # Only a marker expression (-m "not e2e") counts: -k is someone picking tests.
    if items and items[0].config.option.markexpr:
        _E2E.markexpr = items[0].config.option.markexpr
        _E2E.deselected += sum(1 for item in items if item.get_closest_marker("e2e") is not None)


def pytest_collection_finish(session: pytest.Session) -> None:
    # By marker, not by keyword: every test under tests/e2e/ has "e2e" among its keywords.
    _E2E.selected = frozenset(
        item.nodeid for item in session.items if item.get_closest_marker("e2e") is not None
    )


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.nodeid not in _E2E.selected:
        return
    if report.skipped:
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        reason = reason.removeprefix("Skipped: ")
        _E2E.skipped[reason] = _E2E.skipped.get(reason, 0) + 1
    elif report.when == "call":
        _E2E.ran += 1


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_terminal_summary(terminalreporter) -> Generator[None]:  # type: ignore[no-untyped-def]
    # The outermost wrapper: what follows the yield comes after pytest's own summary (the
    # short test summary of -ra), right above the totals line.
    result = yield
    skipped = sum(_E2E.skipped.values())
    if not skipped and not _E2E.deselected:
        return result
    title = "SOME END-TO-END TESTS DID NOT RUN" if _E2E.ran else "END-TO-END TESTS DID NOT RUN"
    terminalreporter.section(title, sep="=", red=True, bold=True)
    write = terminalreporter.write_line
    if _E2E.ran:
        write(f"{_E2E.ran} end-to-end tests ran, {skipped + _E2E.deselected} did not.")
    for reason, count in sorted(_E2E.skipped.items(), key=lambda item: -item[1]):
        write(f"{count} skipped: {reason}", red=True)
    if _E2E.deselected:
        write(f"{_E2E.deselected} deselected by -m {_E2E.markexpr!r}.", red=True)
    setup_error = os.environ.get("C4ROUTER_E2E_SETUP_ERROR")
    if setup_error:
        write(setup_error, red=True)
    return result
