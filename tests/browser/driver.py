"""Headless Debian Chromium driven by selenium, for the browser tests.

No Django import: fixtures live in conftest.py. What is here:
  chromium_paths(), missing()       where Debian's chromium and chromedriver are
  start_chromium(...)               a WebDriver on /usr/bin/chromium, headless, offline-safe
  Browser                           the page helpers tests use (go, fill, submit, text,
                                    overflow at a width, artifacts on failure)

The machine has no Internet: Chromium stalls or phones home without the flags below
(background networking, component updates, sync), and selenium would try to download a
driver (Selenium Manager) if it were not given chromedriver's path.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
INSTALL_SCRIPT = REPO / "bin" / "install-browser"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# Where a failing test leaves its screenshot and page HTML (.ci/run lists this directory).
ARTIFACTS_DIR = Path(
    os.environ.get("C4ROUTER_BROWSER_ARTIFACTS", REPO / "var" / "browser-artifacts")
)
# The window of the trial (a laptop); overflow checks set their own width.
WINDOW = (1400, 1000)
# The admin's content area (<main id="content-start">, beside the navigation sidebar): the
# recent-actions column of the index sits in #content's margin by design, inside it.
CONTENT = "#content-start"
WAIT_S = 10.0  # for a page to load or an element to appear; a failure says what it waited for
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",  # we run as root in CI
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-features=Translate,MediaRouter,OptimizationHints",
    "--password-store=basic",
    f"--window-size={WINDOW[0]},{WINDOW[1]}",
)


def chromium_paths() -> tuple[str | None, str | None]:
    """(chromium, chromedriver): Debian's paths when they are there, else PATH."""

    def find(path: str) -> str | None:
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
        return shutil.which(os.path.basename(path))

    return find(CHROMIUM), find(CHROMEDRIVER)


def missing() -> list[str]:
    chromium, chromedriver = chromium_paths()
    return [
        what
        for what, path in (("chromium", chromium), ("chromedriver (chromium-driver)", chromedriver))
        if path is None
    ]


def start_chromium(profile_dir: Path | None = None):  # type: ignore[no-untyped-def]
    """A headless Chromium with a fresh profile (a temporary --user-data-dir)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, chromedriver = chromium_paths()
    if chromium is None or chromedriver is None:
        raise RuntimeError(f"missing {', '.join(missing())}: run `sudo {INSTALL_SCRIPT}`")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    profile = profile_dir or Path(tempfile.mkdtemp(prefix="c4router-chromium-"))
    options.add_argument(f"--user-data-dir={profile}")
    # Answer "loaded" at DOMContentLoaded + subresources, as a person sees the page.
    options.page_load_strategy = "normal"
    driver = webdriver.Chrome(options=options, service=Service(chromedriver))
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(10)
    return driver


def _words(text: str | None) -> str:
    return " ".join((text or "").split())


@dataclass(frozen=True)
class Overflow:
    """What sticks out sideways at a viewport width: empty lists mean nothing does."""

    width: int
    document: tuple[int, int]  # (scrollWidth, clientWidth) of <html>
    offenders: list[str]  # "selector: scrollWidth > clientWidth" of content that scrolls sideways

    @property
    def ok(self) -> bool:
        return self.document[0] <= self.document[1] and not self.offenders

    def __str__(self) -> str:
        scroll, client = self.document
        lines = [f"at {self.width}px: page {scroll}px wide in a {client}px view"]
        lines += [f"  {offender}" for offender in self.offenders]
        return "\n".join(lines)


# The page and the content element must not be wider than the view, and nothing inside
# the content may scroll sideways (a results table with its own scrollbar is as bad for an
# operator as a page that scrolls). When the content overflows, the outermost elements that
# stick out past its right edge are named, with a short CSS path, to say what to fix.
_OVERFLOW_JS = r"""
const root = document.documentElement;
const main = document.querySelector(arguments[0]);
function path(el) {
  const parts = [];
  for (let e = el; e && e !== document.body && parts.length < 4; e = e.parentElement) {
    let part = e.tagName.toLowerCase();
    if (e.id) { parts.unshift(part + '#' + e.id); break; }
    if (e.classList.length) part += '.' + Array.from(e.classList).slice(0, 2).join('.');
    parts.unshift(part);
  }
  return parts.join(' > ');
}
const offenders = [];
if (!main) return [root.scrollWidth, root.clientWidth, ['no element matches ' + arguments[0]]];
const limit = main.getBoundingClientRect().right + 1;
if (main.scrollWidth > main.clientWidth + 1) {
  offenders.push(path(main) + ': content ' + main.scrollWidth + 'px wide in ' + main.clientWidth);
  for (const el of main.querySelectorAll('*')) {
    const right = el.getBoundingClientRect().right;
    if (right > limit && el.parentElement.getBoundingClientRect().right <= limit)
      offenders.push('  ' + path(el) + ': ends at ' + Math.round(right) + 'px');
    if (offenders.length >= 6) break;
  }
}
for (const el of main.querySelectorAll('*')) {
  if (el.clientWidth === 0) continue;
  const overflowX = getComputedStyle(el).overflowX;
  if ((overflowX === 'auto' || overflowX === 'scroll') && el.scrollWidth > el.clientWidth + 1)
    offenders.push(path(el) + ': scrolls sideways, ' + el.scrollWidth + 'px in ' + el.clientWidth);
  if (offenders.length >= 12) break;
}
return [root.scrollWidth, root.clientWidth, offenders];
"""


class Browser:
    """One Chromium tab pointed at a c4router server (base_url)."""

    def __init__(self, driver, base_url: str) -> None:  # type: ignore[no-untyped-def]
        self.driver = driver
        self.base_url = base_url.rstrip("/")

    # --- navigation -----------------------------------------------------------------------
    def url(self, path: str) -> str:
        return path if path.startswith("http") else f"{self.base_url}{path}"

    def go(self, path: str) -> Browser:
        self.driver.get(self.url(path))
        return self

    @property
    def path(self) -> str:
        current = str(self.driver.current_url)
        return current[len(self.base_url) :] if current.startswith(self.base_url) else current

    def wait(self, condition, what: str, timeout: float = WAIT_S):  # type: ignore[no-untyped-def]
        from selenium.common.exceptions import TimeoutException
        from selenium.webdriver.support.ui import WebDriverWait

        try:
            return WebDriverWait(self.driver, timeout).until(condition)
        except TimeoutException:
            raise AssertionError(
                f"waited {timeout}s for {what}; page is {self.path!r}: {self.title!r}"
            ) from None

    @contextmanager
    def navigation(self, what: str = "the next page") -> Iterator[None]:
        """Wait until the page the block's click or submit leads to has loaded."""
        from selenium.webdriver.support import expected_conditions as ec

        old = self.driver.find_element("tag name", "html")
        yield
        self.wait(ec.staleness_of(old), what)
        self.wait(lambda d: d.execute_script("return document.readyState") == "complete", what)

    # --- reading --------------------------------------------------------------------------
    @property
    def title(self) -> str:
        return str(self.driver.title)

    def find(self, css: str):  # type: ignore[no-untyped-def]
        from selenium.webdriver.support import expected_conditions as ec

        return self.wait(ec.presence_of_element_located(("css selector", css)), f"`{css}`")

    def find_all(self, css: str) -> list:  # type: ignore[type-arg]
        return list(self.driver.find_elements("css selector", css))

    def exists(self, css: str) -> bool:
        return bool(self.find_all(css))

    def text(self, css: str = "body") -> str:
        return str(self.find(css).text)

    def texts(self, css: str) -> list[str]:
        """The words of each matching element, as written in the page (textContent: the
        CSS may show them in capitals), blanks collapsed."""
        return [_words(element.get_attribute("textContent")) for element in self.find_all(css)]

    def table(self, css: str) -> list[list[str]]:
        """The rows of a table, header cells included, as written in the page."""
        return [
            [
                _words(cell.get_attribute("textContent"))
                for cell in row.find_elements("css selector", "th, td")
            ]
            for row in self.find(css).find_elements("css selector", "tr")
        ]

    # --- acting ---------------------------------------------------------------------------
    def fill(self, css: str, value: str) -> None:
        element = self.find(css)
        element.clear()
        if value:
            element.send_keys(value)

    def select(self, css: str, *, text: str | None = None, value: str | None = None) -> None:
        from selenium.webdriver.support.ui import Select

        select = Select(self.find(css))
        if text is not None:
            select.select_by_visible_text(text)
        else:
            select.select_by_value(str(value))

    def choose(self, select_css: str, text: str) -> None:
        """Pick the option `text` of an admin picker (autocomplete_fields: a select2 widget
        over the <select> `select_css`), typing it as a person would."""
        select = self.find(select_css)
        widget = select.find_element(
            "xpath", "following-sibling::span[contains(@class, 'select2')]"
        )
        widget.find_element("css selector", ".select2-selection").click()
        search = self.find(".select2-container--open .select2-search__field")
        search.send_keys(text)
        # select2 asks the server again at each keystroke and redraws its list when an
        # answer comes: an option found in one list can be gone by the time it is clicked.
        # Find and click in one step, and start over when the list was redrawn between.
        from selenium.common.exceptions import StaleElementReferenceException

        def pick(d):  # type: ignore[no-untyped-def]
            try:
                for o in d.find_elements("css selector", ".select2-results__option"):
                    if o.text.strip() == text:
                        o.click()
                        return True
            except StaleElementReferenceException:
                pass
            return False

        self.wait(pick, f"the picker of `{select_css}` to offer {text!r}")
        self.wait(lambda d: text in widget.text, f"the picker of `{select_css}` to show {text!r}")

    def click(self, css: str) -> None:
        self.find(css).click()

    def submit(self, css: str = "input[type=submit], button[type=submit]") -> None:
        """Click a submit button and wait for the page it leads to."""
        with self.navigation(f"the page after submitting with `{css}`"):
            self.find(css).click()

    def click_link(self, text: str) -> None:
        """Follow the link a person would click by its text, and wait for the page."""
        link = self.wait(
            lambda d: next(
                (a for a in d.find_elements("tag name", "a") if a.text.strip() == text), False
            ),
            f"a link `{text}`",
        )
        with self.navigation(f"the page of the link `{text}`"):
            link.click()

    def add_session(self, cookie_name: str, session_key: str) -> None:
        """Carry a session made on the server's database (a logged-in user) in this tab."""
        self.go("/favicon.ico")  # the cookie belongs to the site: be on one of its pages
        self.driver.add_cookie({"name": cookie_name, "value": session_key, "path": "/"})

    def login(self, username: str, password: str) -> None:
        self.go("/admin/login/?next=/admin/")
        self.fill("#id_username", username)
        self.fill("#id_password", password)
        self.submit()
        if self.exists("#login-form"):
            errors = " ".join(self.texts(".errornote, .errorlist"))
            raise AssertionError(f"login as {username} refused: {errors or self.title}")

    # --- layout ---------------------------------------------------------------------------
    def overflow(self, width: int, content: str = CONTENT, height: int = 900) -> Overflow:
        """What sticks out sideways in a viewport `width` CSS pixels wide (the page and the
        content element `content`), measured after the page has been laid out again."""
        self.driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )
        try:
            self.wait(
                lambda d: d.execute_script("return window.innerWidth") == width,
                f"the viewport to be {width}px wide",
            )
            scroll, client, offenders = self.driver.execute_script(_OVERFLOW_JS, content)
        finally:
            self.driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        return Overflow(width=width, document=(int(scroll), int(client)), offenders=offenders)

    def assert_no_horizontal_overflow(self, width: int = 1366, content: str = CONTENT) -> None:
        result = self.overflow(width, content)
        assert result.ok, f"{self.path} overflows sideways {result}"

    # --- failure artifacts ----------------------------------------------------------------
    def save_artifacts(self, name: str, directory: Path = ARTIFACTS_DIR) -> list[Path]:
        """A screenshot and the HTML of the page as it is now: what CI shows of a failure."""
        directory.mkdir(parents=True, exist_ok=True)
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")[:150] or "page"
        png, html = directory / f"{stem}.png", directory / f"{stem}.html"
        saved = []
        try:
            if self.driver.save_screenshot(str(png)):
                saved.append(png)
        except Exception as exc:  # a dead browser must not hide the failure
            png.with_suffix(".png.error").write_text(f"screenshot failed: {exc}\n")
        try:
            source = f"<!-- {self.driver.current_url} -->\n{self.driver.page_source}"
            html.write_text(source, encoding="utf-8")
            saved.append(html)
        except Exception as exc:
            html.with_suffix(".html.error").write_text(f"page source failed: {exc}\n")
        return saved
