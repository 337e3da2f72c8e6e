"""c4router/settings.py under controlled environments, each in a fresh interpreter.

Settings are read once per process, so every case runs `python -c` or `manage.py` in a
subprocess with an environment built from scratch (nothing leaks in from the test run).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
GOOD_KEY = secrets.token_urlsafe(50)
PRINT_SETTINGS = (
    "import json, c4router.settings as s; "
    "print(json.dumps({'debug': s.DEBUG, 'key': s.SECRET_KEY, 'hosts': s.ALLOWED_HOSTS, "
    "'db': {k: str(v) for k, v in s.DATABASES['default'].items()}}))"
)


def run(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "PYTHONPATH": str(REPO),
        "DJANGO_SETTINGS_MODULE": "c4router.settings",
        "C4ROUTER_VAR_DIR": str(tmp_path / "var"),
        **env,
    }
    return subprocess.run(
        [sys.executable, *args],
        cwd=REPO,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def import_settings(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return run(["-c", PRINT_SETTINGS], tmp_path, **env)


def settings_of(tmp_path: Path, **env: str) -> dict[str, object]:
    result = import_settings(tmp_path, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


PRODUCTION = {"SECRET_KEY": GOOD_KEY, "ALLOWED_HOSTS": "c4router.example"}


def test_production_is_the_default_mode_with_debug_off(tmp_path: Path) -> None:
    values = settings_of(tmp_path, **PRODUCTION)
    assert values["debug"] is False
    assert values["key"] == GOOD_KEY
    assert values["hosts"] == ["c4router.example"]


def test_production_refuses_debug(tmp_path: Path) -> None:
    result = import_settings(tmp_path, DEBUG="1", **PRODUCTION)
    assert result.returncode != 0
    assert "DEBUG is on in production mode" in result.stderr


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (None, "SECRET_KEY is not set"),
        ("", "SECRET_KEY is not set"),
        ("short-key", "SECRET_KEY is too weak"),
        ("a" * 60, "SECRET_KEY is too weak"),  # long but only one character
        ("django-insecure-" + secrets.token_urlsafe(50), "SECRET_KEY is too weak"),
    ],
)
def test_production_refuses_a_missing_or_weak_secret_key(
    tmp_path: Path, key: str | None, message: str
) -> None:
    env = {"ALLOWED_HOSTS": "c4router.example"}
    if key is not None:
        env["SECRET_KEY"] = key
    result = import_settings(tmp_path, **env)
    assert result.returncode != 0
    assert message in result.stderr


def test_production_refuses_missing_allowed_hosts(tmp_path: Path) -> None:
    result = import_settings(tmp_path, SECRET_KEY=GOOD_KEY)
    assert result.returncode != 0
    assert "ALLOWED_HOSTS is not set" in result.stderr


def test_a_bad_mode_is_refused(tmp_path: Path) -> None:
    result = import_settings(tmp_path, C4ROUTER_MODE="staging", **PRODUCTION)
    assert result.returncode != 0
    assert "C4ROUTER_MODE='staging'" in result.stderr


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DEBUG", "maybe", "DEBUG='maybe' is not a boolean"),
        ("LOG_LEVEL", "LOUD", "LOG_LEVEL='LOUD' is not a logging level"),
        ("C4ROUTER_MAX_ROUTES", "0", "C4ROUTER_MAX_ROUTES=0 is below the minimum 1"),
        ("C4ROUTER_API_ALLOWED_NETS", "10.0.0.1/8", "C4ROUTER_API_ALLOWED_NETS: '10.0.0.1/8'"),
        ("DATABASE_URL", "mysql://localhost/c4", "unsupported scheme 'mysql'"),
        ("C4ROUTER_BASE_CURRENCY", "euro", "C4ROUTER_BASE_CURRENCY='euro': give an ISO 4217"),
    ],
)
def test_a_malformed_setting_stops_the_start_naming_the_variable(
    tmp_path: Path, name: str, value: str, message: str
) -> None:
    result = import_settings(tmp_path, **{**PRODUCTION, name: value})
    assert result.returncode != 0
    assert message in result.stderr


def test_check_deploy_in_production_reports_no_issues(tmp_path: Path) -> None:
    result = run(["manage.py", "check", "--deploy"], tmp_path, **PRODUCTION)
    assert result.returncode == 0, result.stderr
    # SECURE_HSTS_PRELOAD is opt-in (being on the browsers' preload list is hard to undo):
    # its reminder, W021, is silenced while it is off, and only then.
    assert "System check identified no issues (1 silenced)." in result.stdout
    preload = run(
        ["manage.py", "check", "--deploy"], tmp_path, SECURE_HSTS_PRELOAD="1", **PRODUCTION
    )
    assert preload.returncode == 0, preload.stderr
    assert "System check identified no issues (0 silenced)." in preload.stdout


def test_dev_mode_runs_without_a_secret_key_and_keeps_its_generated_key(tmp_path: Path) -> None:
    first = settings_of(tmp_path, C4ROUTER_MODE="dev")
    second = settings_of(tmp_path, C4ROUTER_MODE="dev")
    assert first["debug"] is True
    assert len(str(first["key"])) >= 50
    assert first["key"] == second["key"]  # sessions survive a restart
    key_file = tmp_path / "var" / "dev-secret-key"
    assert key_file.read_text().strip() == first["key"]
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert first["hosts"] == ["localhost", "127.0.0.1", "[::1]"]


def test_dev_mode_may_turn_debug_off(tmp_path: Path) -> None:
    assert settings_of(tmp_path, C4ROUTER_MODE="dev", DEBUG="0")["debug"] is False


def test_no_database_url_means_sqlite_under_the_var_dir(tmp_path: Path) -> None:
    db = settings_of(tmp_path, C4ROUTER_MODE="dev")["db"]
    assert isinstance(db, dict)
    assert db["ENGINE"] == "django.db.backends.sqlite3"
    assert db["NAME"] == str(tmp_path / "var" / "c4router.sqlite3")
    assert (tmp_path / "var").is_dir()


def test_a_postgres_database_url_uses_psycopg_with_a_pool(tmp_path: Path) -> None:
    db = settings_of(
        tmp_path,
        C4ROUTER_MODE="dev",
        DATABASE_URL="postgres://router@db.example:5433/c4router",
        DATABASE_POOL_MAX="4",
    )["db"]
    assert isinstance(db, dict)
    assert db["ENGINE"] == "django.db.backends.postgresql"
    assert (db["NAME"], db["USER"], db["HOST"], db["PORT"]) == (
        "c4router",
        "router",
        "db.example",
        "5433",
    )
    assert "'max_size': 4" in db["OPTIONS"]
