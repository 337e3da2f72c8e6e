"""Django-free fixtures for the Kamailio + SIPp end-to-end tests.

Tests marked @pytest.mark.e2e need kamailio, sipp and http_async_client.so
(installed by `bin/install-kamailio`). Without them they are skipped, unless
C4ROUTER_REQUIRE_E2E=1, where they fail (CI must not silently skip them).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

_HERE = Path(__file__).resolve().parent
_REPO = _HERE.parents[1]
for p in (str(_HERE), str(_REPO)):
    if p not in sys.path:
        sys.path.insert(0, p)

import harness  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "e2e: end-to-end test with real Kamailio and SIPp (bin/install-kamailio)"
    )


@pytest.fixture(autouse=True)
def _e2e_requirements(request):
    if request.node.get_closest_marker("e2e") is not None:
        harness.skip_or_fail_without_requirements()


@pytest.fixture
def workdir(tmp_path) -> Path:
    return tmp_path
