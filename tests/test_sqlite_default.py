"""The embedded default (no DATABASE_URL: SQLite) routes the demo data, as in the quick start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def manage(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "DATABASE_REPLICA_URL", "DJANGO_SETTINGS_MODULE"}
    }
    env.update(C4ROUTER_MODE="dev", C4ROUTER_VAR_DIR=str(tmp_path))
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=REPO, env=env, capture_output=True,
        text=True, timeout=180, check=False,
    )  # fmt: skip


def test_sqlite_default_migrates_seeds_and_routes(tmp_path):
    assert manage(tmp_path, "migrate", "-v0").returncode == 0
    seeded = manage(tmp_path, "seed_demo")
    assert seeded.returncode == 0, seeded.stderr
    assert (tmp_path / "c4router.sqlite3").exists()
    outbound = manage(
        tmp_path, "route", "--source-ip", "10.10.0.10", "--from", "sip:0123456789@10.10.0.10",
        "--to", "sip:0612345678@x", "--seed", "1",
    )  # fmt: skip
    assert outbound.returncode == 0, outbound.stderr
    assert "Rule: rule #" in outbound.stdout and "France mobile" in outbound.stdout
    assert "Route 1: gateway Gamma Carrier/gamma-1" in outbound.stdout
    inbound = manage(
        tmp_path, "route", "--source-ip", "198.51.100.10", "--from", "sip:caller@domain.com",
        "--to", "sip:+33123456785@domain.com",
    )  # fmt: skip
    assert "DID 33123456780-33123456789 -> PBX acme-hq" in inbound.stdout
