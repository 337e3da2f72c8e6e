"""Issue 11 item 21: a run without its end-to-end tests says so in its last lines.

Without Kamailio the e2e tests skip; bin/test then ran the rest after one quiet line at the
start. tests/conftest.py now ends the run with an "END-TO-END TESTS DID NOT RUN" section
(why, and how many), right above pytest's totals. Each case runs pytest in a subprocess on
a tiny selection of the real suite (tests/e2e/test_kamailio_stub_api.py: tests that need
no database, so the outer run's test database is left alone).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
STUB_TESTS = "tests/e2e/test_kamailio_stub_api.py"
QUICK = "render_missing_key or passes_kamailio_check"  # one plain test, one e2e test


def pytest_run(*args: str, **env: str) -> list[str]:
    """The last lines of a pytest run of the real suite, with `env` on top of ours."""
    environ = {**os.environ, **env}
    environ.pop("C4ROUTER_REQUIRE_E2E", None)  # CI's: skips would be failures
    for name in [k for k, v in env.items() if v == ""]:
        environ.pop(name)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=REPO, env=environ, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert result.returncode in (0, 5), result.stdout[-3000:] + result.stderr[-3000:]
    return [line for line in result.stdout.splitlines() if line.strip()]


def test_f21_skipped_end_to_end_tests_are_named_in_the_last_lines(tmp_path):
    lines = pytest_run(
        STUB_TESTS, "-k", QUICK,
        C4ROUTER_HTTP_ASYNC_CLIENT_SO=str(tmp_path / "nowhere" / "http_async_client.so"),
        C4ROUTER_E2E_SETUP_ERROR="bin/install-kamailio failed: install-kamailio: apt-get said no",
    )  # fmt: skip
    last = lines[-4:]
    assert "END-TO-END TESTS DID NOT RUN" in last[0], "\n".join(lines)
    assert last[1].startswith("1 skipped: Kamailio end-to-end test needs: http_async_client.so")
    assert last[2] == "bin/install-kamailio failed: install-kamailio: apt-get said no"
    assert "1 passed, 1 skipped" in last[3]


def test_f21_deselected_end_to_end_tests_are_named_in_the_last_lines():
    lines = pytest_run(STUB_TESTS, "-m", "not e2e", "-k", QUICK, C4ROUTER_E2E_SETUP_ERROR="")
    last = lines[-3:]
    assert "END-TO-END TESTS DID NOT RUN" in last[0], "\n".join(lines)
    assert last[1].endswith("deselected by -m 'not e2e'.")
    assert "1 passed" in last[2]


@pytest.mark.e2e
def test_f21_a_run_whose_end_to_end_tests_ran_says_nothing_more():
    lines = pytest_run(STUB_TESTS, "-k", QUICK, C4ROUTER_E2E_SETUP_ERROR="")
    assert "2 passed" in lines[-1], "\n".join(lines)
    assert not any("END-TO-END" in line for line in lines)
