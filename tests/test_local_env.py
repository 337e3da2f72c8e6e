"""var/local.env: the checkout's own settings (written by bin/quickstart), under the
environment; and manage.py saying a missing setting in one line instead of a traceback.

Settings are read once per process: every case runs in a subprocess with an environment
built from scratch (tests/test_settings.py's run()), its var/ in tmp_path.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from c4router.env import load_env_file, read_env_file
from tests.test_settings import GOOD_KEY, run, settings_of

LOCAL_DEV = "# written by bin/quickstart\nC4ROUTER_MODE=dev\nC4ROUTER_URL=http://127.0.0.1:9000/\n"


def write_local_env(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "var" / "local.env"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# --- the file's grammar ----------------------------------------------------------------------


def test_read_env_file_reads_names_values_comments_quotes_and_export(tmp_path: Path) -> None:
    path = tmp_path / "local.env"
    path.write_text(
        "# a comment\n\n"
        "C4ROUTER_MODE=dev\n"
        "  export LOG_LEVEL=DEBUG  \n"
        "ALLOWED_HOSTS='localhost,c4.example'\n"
        'C4ROUTER_URL="http://127.0.0.1:9000/"\n'
        "EMPTY=\n"
        "WITH_EQUALS=a=b\n"
    )
    assert read_env_file(path) == {
        "C4ROUTER_MODE": "dev",
        "LOG_LEVEL": "DEBUG",
        "ALLOWED_HOSTS": "localhost,c4.example",
        "C4ROUTER_URL": "http://127.0.0.1:9000/",
        "EMPTY": "",
        "WITH_EQUALS": "a=b",
    }


@pytest.mark.parametrize(
    "line", ["just words", "1BAD=x", "NAME value", "NAME-X=1", "=value", "export"]
)
def test_a_malformed_line_is_refused_with_the_file_and_line_number(
    tmp_path: Path, line: str
) -> None:
    path = tmp_path / "local.env"
    path.write_text(f"C4ROUTER_MODE=dev\n{line}\n")
    with pytest.raises(ImproperlyConfigured, match=r"local\.env:2: not a NAME=value line"):
        read_env_file(path)


def test_load_env_file_never_overrides_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "local.env"
    path.write_text("C4ROUTER_MODE=dev\nLOG_LEVEL=DEBUG\n")
    environ = {"C4ROUTER_MODE": "production"}
    assert load_env_file(path, environ) == ["LOG_LEVEL"]
    assert environ == {"C4ROUTER_MODE": "production", "LOG_LEVEL": "DEBUG"}


def test_no_file_sets_nothing(tmp_path: Path) -> None:
    environ: dict[str, str] = {}
    assert load_env_file(tmp_path / "missing.env", environ) == []
    assert environ == {}


# --- settings read it --------------------------------------------------------------------------


def test_settings_take_the_quick_starts_dev_mode_from_var_local_env(tmp_path: Path) -> None:
    assert "SECRET_KEY is not set" in run(["-c", "import c4router.settings"], tmp_path).stderr
    write_local_env(tmp_path, LOCAL_DEV)

    values = settings_of(tmp_path)

    assert values["debug"] is True
    assert values["hosts"] == ["localhost", "127.0.0.1", "[::1]"]
    site = run(["-c", "import c4router.settings as s; print(s.SITE_URL)"], tmp_path)
    assert site.stdout.strip() == "http://127.0.0.1:9000/"


def test_the_environment_wins_so_a_production_image_stays_production(tmp_path: Path) -> None:
    write_local_env(tmp_path, LOCAL_DEV)
    # The image sets C4ROUTER_MODE=production in its environment (Dockerfile).
    values = settings_of(
        tmp_path,
        C4ROUTER_MODE="production",
        SECRET_KEY=GOOD_KEY,
        ALLOWED_HOSTS="c4router.example",
    )
    assert values["debug"] is False
    assert values["hosts"] == ["c4router.example"]


def test_the_image_never_carries_a_local_env_file() -> None:
    dockerfile = (Path(__file__).resolve().parent.parent / "Dockerfile").read_text()
    assert "C4ROUTER_MODE=production" in dockerfile
    assert "rm -rf /app/var" in dockerfile  # var/ (local.env, dev key) is not in the image


def test_a_bad_line_in_local_env_stops_manage_py_in_one_line(tmp_path: Path) -> None:
    write_local_env(tmp_path, "C4ROUTER_MODE=dev\nPORT 9000\n")
    result = run(["manage.py", "check"], tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"manage.py: {tmp_path / 'var' / 'local.env'}:2: not a NAME=value line: 'PORT 9000'."
    ]


@pytest.mark.parametrize(
    ("url", "accepted"),
    [
        ("http://127.0.0.1:9000", "http://127.0.0.1:9000/"),
        ("https://c4.example/", "https://c4.example/"),
        ("ftp://c4.example/", None),
        ("http://127.0.0.1:99999/", None),
        ("127.0.0.1:8000", None),
        ("http://c4.example/?a=1", None),
    ],
)
def test_c4router_url_is_an_http_url(tmp_path: Path, url: str, accepted: str | None) -> None:
    result = run(
        ["-c", "import c4router.settings as s; print(s.SITE_URL)"],
        tmp_path,
        C4ROUTER_MODE="dev",
        C4ROUTER_URL=url,
    )
    if accepted is None:
        assert f"C4ROUTER_URL={url!r}: give an http(s) URL" in result.stderr
    else:
        assert result.stdout.strip() == accepted, result.stderr


# --- manage.py without the file: one line, not a traceback ---------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ["route", "--source-ip", "10.10.0.10", "--from", "sip:0123456789@10.10.0.10", "--to", "x"],
        ["ensure_admin", "--reset"],
        ["check"],
    ],
)
def test_a_missing_setting_is_one_line_and_exit_code_1(tmp_path: Path, command: list[str]) -> None:
    result = run(["manage.py", *command], tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("manage.py: SECRET_KEY is not set (required in production mode).")
    # A checkout the quick start has not set up is told how to get the dev mode.
    assert "run bin/quickstart first" in line
    assert "or set C4ROUTER_MODE=dev" in line


def test_production_without_the_checkout_hint_once_the_quick_start_ran(tmp_path: Path) -> None:
    write_local_env(tmp_path, "# nothing\n")
    result = run(["manage.py", "check"], tmp_path, ALLOWED_HOSTS="c4router.example")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "manage.py: SECRET_KEY is not set (required in production mode)."
    )


def test_traceback_still_shows_the_traceback(tmp_path: Path) -> None:
    result = run(["manage.py", "check", "--traceback"], tmp_path, SECRET_KEY=secrets.token_hex(8))
    assert result.returncode == 1
    assert "Traceback" in result.stderr
    assert "SECRET_KEY is too weak for production" in result.stderr
