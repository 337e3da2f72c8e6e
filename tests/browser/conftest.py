"""Browser tests: Debian's headless Chromium against a real c4router (uvicorn, ASGI).

The admin is served the way the quick start and production serve it: c4router.asgi under
uvicorn in a subprocess (tests/live.py), on the test database. Each test gets a clean
database (browser_db: emptied, and the test's writes committed, so that the server's
process sees them) and a clean browser tab (no cookies); the server and Chromium are
started once per session, which keeps the whole browser suite to seconds per test.

Fixtures:
  browser        a Browser (tests/browser/driver.py) on the server, logged out
  admin_user     a superuser (ADMIN_USER / ADMIN_PASSWORD) the server accepts
  admin_browser  the tab with that user's session (log_in(browser, user) for another user)
  browser_server the C4RouterServer (its .log_text() is the server's stderr)
  browser_db     the database access of a browser test (the others depend on it)

Tests are marked `browser` (pytestmark in each module). Without Chromium they are skipped,
unless C4ROUTER_REQUIRE_BROWSER=1 (CI), where they fail: `sudo bin/install-browser`
installs it. When a test fails, a screenshot and the page's HTML are saved under
var/browser-artifacts/ (C4ROUTER_BROWSER_ARTIFACTS) and their paths are printed with the
failure, with what the server logged during the test.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.driver import INSTALL_SCRIPT, Browser, missing, start_chromium
from tests.live import C4RouterServer

ADMIN_USER = "admin"
ADMIN_PASSWORD = "browser-pass-0123"  # a test account on a test database

_PAGE = pytest.StashKey["Browser"]()
_SERVER = pytest.StashKey[tuple[C4RouterServer, int]]()  # the server, its log's size at start


def _require_chromium() -> None:
    absent = missing()
    if not absent:
        return
    message = f"browser test needs {', '.join(absent)}: run `sudo {INSTALL_SCRIPT}`"
    if os.environ.get("C4ROUTER_REQUIRE_BROWSER") == "1":
        pytest.fail(f"C4ROUTER_REQUIRE_BROWSER=1 but {message}", pytrace=False)
    pytest.skip(message)


# Filled by migrate and cached by every Django process (content type ids): kept between
# tests. pytest-django's transactional_db flushes them, and re-creates them with new ids,
# under the server's cache: its next admin save failed (django_admin_log's foreign key).
_KEPT_TABLES = frozenset({"django_content_type", "auth_permission", "django_migrations"})


def _content_types() -> list[tuple[int, str, str]]:
    from django.contrib.contenttypes.models import ContentType

    return list(ContentType.objects.order_by("id").values_list("id", "app_label", "model"))


def _empty_the_database() -> None:
    from django.core.management.color import no_style
    from django.db import connection

    tables = [
        table
        for table in connection.introspection.django_table_names(only_existing=True)
        if table not in _KEPT_TABLES
    ]
    from django.db import OperationalError

    # The server's process reads the tables meanwhile (its table reload): TRUNCATE takes
    # their locks one by one, so PostgreSQL may find a deadlock and abort the TRUNCATE,
    # which then only has to run again.
    for attempt in range(5):
        try:
            with connection.cursor() as cursor:
                for statement in connection.ops.sql_flush(no_style(), tables):
                    cursor.execute(statement)
            return
        except OperationalError as exc:
            if "deadlock detected" not in str(exc) or attempt == 4:
                raise
            time.sleep(0.2 * (attempt + 1))


class _Server:
    """The session's server, started again when another test (transactional_db) re-created
    the content types it caches."""

    def __init__(self, log_dir: Path) -> None:
        self.server = C4RouterServer(log_dir)
        self.content_types: list[tuple[int, str, str]] = []

    def fresh(self) -> C4RouterServer:
        now = _content_types()
        if now != self.content_types:
            self.server.stop()
            self.content_types = now
            self.server.start()
        return self.server


@pytest.fixture(scope="session")
def _test_database(django_db_setup: None, django_db_blocker: pytest.FixtureDef) -> Iterator[None]:
    """The test database. pytest-django creates it only for tests that use its db fixtures
    (db, transactional_db), which flush or roll back around each test: when none of those
    runs in this session, it is created here."""
    from django.db import connection
    from django.test.utils import setup_databases, teardown_databases

    conf = connection.settings_dict
    if conf["NAME"] == conf.get("TEST", {}).get("NAME"):  # pytest-django made it
        yield
        return
    with django_db_blocker.unblock():  # type: ignore[attr-defined]
        created = setup_databases(verbosity=0, interactive=False, aliases={"default"})
    try:
        yield
    finally:
        with django_db_blocker.unblock():  # type: ignore[attr-defined]
            teardown_databases(created, verbosity=0)


@pytest.fixture(scope="session")
def _server(_test_database: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Server]:
    _require_chromium()
    holder = _Server(tmp_path_factory.mktemp("browser-server"))
    try:
        yield holder
    finally:
        holder.server.stop()


@pytest.fixture
def browser_db(_server: _Server, django_db_blocker: pytest.FixtureDef) -> Iterator[None]:
    """The test database, empty but for what migrate put there, with the test's writes
    committed at once (the server's process reads them): transactional_db without the
    flush of content types."""
    with django_db_blocker.unblock():  # type: ignore[attr-defined]
        _empty_the_database()
        yield
        _empty_the_database()


@pytest.fixture
def browser_server(_server: _Server, browser_db: None) -> C4RouterServer:
    """c4router.asgi under uvicorn on the test database (one for the session)."""
    return _server.fresh()


@pytest.fixture(scope="session")
def _chromium() -> Iterator[object]:
    _require_chromium()
    driver = start_chromium()
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def browser(
    request: pytest.FixtureRequest, _chromium: object, browser_server: C4RouterServer
) -> Iterator[Browser]:
    """A logged-out tab on the server; a failing test leaves its screenshot and HTML."""
    driver = _chromium
    driver.delete_all_cookies()  # type: ignore[attr-defined]
    page = Browser(driver, browser_server.url)
    request.node.stash[_PAGE] = page
    request.node.stash[_SERVER] = (browser_server, len(browser_server.log_text()))
    yield page
    # Leave the tab on a blank page: the next test starts from nothing it could reuse.
    driver.get("about:blank")  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def _admin_password_hash() -> str:
    """The password hashed the way the server checks it: the suite's settings hash with MD5
    (fast), which the server, on c4router's own settings, does not accept. Hashed once."""
    from django.contrib.auth.hashers import PBKDF2PasswordHasher

    hasher = PBKDF2PasswordHasher()
    return hasher.encode(ADMIN_PASSWORD, hasher.salt())


@pytest.fixture
def admin_user(_admin_password_hash: str, browser_db: None):  # type: ignore[no-untyped-def]
    # Not pytest-django's django_user_model: it wraps the test in a transaction (db), which
    # the server's process would not see.
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_superuser(ADMIN_USER, "admin@example.com")
    user.password = _admin_password_hash
    user.save(update_fields=["password"])
    return user


def log_in(browser: Browser, user: object) -> None:
    """Give the tab a session of `user`, made in the database as a login makes it: the
    login form itself is tested once (test_login.py), not paid for (a PBKDF2 check in the
    server) by every test."""
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user)  # type: ignore[arg-type]
    name = settings.SESSION_COOKIE_NAME
    browser.add_session(name, client.cookies[name].value)


@pytest.fixture
def admin_browser(browser: Browser, admin_user: object) -> Browser:
    """The tab, logged in to the admin as a superuser."""
    log_in(browser, admin_user)
    return browser


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    report = yield
    page = item.stash.get(_PAGE, None)
    if page is not None and report.failed and report.when in {"setup", "call"}:
        saved = page.save_artifacts(f"{item.nodeid}-{report.when}")
        lines = [f"page at failure: {page.driver.current_url}"]
        lines += [f"saved {Path(path).resolve()}" for path in saved]
        server, start = item.stash[_SERVER]
        log = server.log_text()[start:].strip().splitlines()
        if log:  # what the server said during the test: a 500's traceback, for one
            lines += ["server log during the test (last 60 lines):", *log[-60:]]
        report.sections.append(("browser artifacts", "\n".join(lines)))
    return report
