"""The serving process hands Python's GIL back to the event loop within 0.5 ms (not 5 ms).

While a worker's reload thread patches its table after an import, or an export computes
its batches, the loop that answers Kamailio waits for the GIL up to the switch interval at
every wake-up (bench/gil_lag.py: 5-18 ms of lag at Python's default, under 1-8 ms at 0.5 ms).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def switch_interval(**env: str) -> float:
    """sys.getswitchinterval() in a fresh process that loads the ASGI application."""
    out = subprocess.run(
        [sys.executable, "-c", "import sys, c4router.asgi; print(sys.getswitchinterval())"],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", **env},
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return float(out.stdout.strip().splitlines()[-1])


def test_the_asgi_application_sets_a_short_switch_interval() -> None:
    assert switch_interval() == 0.0005


def test_the_switch_interval_is_configurable() -> None:
    assert switch_interval(C4ROUTER_SWITCH_INTERVAL_US="2000") == 0.002


def test_a_process_that_does_not_serve_keeps_pythons_default() -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, django; django.setup(); import routing.import_process; "
            "print(sys.getswitchinterval())",
        ],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"},
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert float(out.stdout.strip().splitlines()[-1]) == 0.005
