"""render_kamailio_config finds http_async_client where bin/install-kamailio put it.

After `sudo bin/install-kamailio`, `render_kamailio_config --check` failed ("could not find
module <http_async_client>") until KAMAILIO_HTTP_ASYNC_CLIENT was set by hand, although the
install script knows where it built the module. The render now looks where the script
looks (the same ${C4ROUTER_CACHE:-$HOME/.cache/c4router}/kamailio-<version>/ path).
"""

from __future__ import annotations

import os
import subprocess
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from routing import kamailio
from routing.models import RouterInstance
from tests.e2e import harness

REPO = Path(__file__).resolve().parents[2]
DEBIAN_MODULES = "/usr/lib/x86_64-linux-gnu/kamailio/modules/"

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _nothing_configured(settings):  # type: ignore[no-untyped-def]
    """The settings of a fresh install: no KAMAILIO_HTTP_ASYNC_CLIENT, Debian's modules."""
    settings.KAMAILIO_MODULE_PATH = DEBIAN_MODULES
    settings.KAMAILIO_HTTP_ASYNC_CLIENT = ""


@pytest.fixture
def edge1() -> RouterInstance:
    instance = RouterInstance(
        name="edge1", listen_ip="127.0.0.1", api_urls="http://127.0.0.1:8000/kamailio/rtjson"
    )
    instance.full_clean()
    instance.save()
    return instance


def loaded_module(config: str) -> str:
    (line,) = [
        line
        for line in config.splitlines()
        if line.startswith("loadmodule") and "http_async_client" in line
    ]
    return line.split('"')[1]


def print_module_path(env: dict[str, str]) -> str:
    result = subprocess.run(
        ["bash", str(REPO / "bin" / "install-kamailio"), "--print-module-path"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.strip().splitlines()[-1]


def test_check_passes_after_install_kamailio_with_nothing_set(edge1, tmp_path):
    harness.skip_or_fail_without_requirements()
    installed = harness.requirements().http_async_client
    out, err = StringIO(), StringIO()

    call_command(
        "render_kamailio_config", "--output-dir", str(tmp_path), "--check", stdout=out, stderr=err
    )

    assert f"wrote {tmp_path / 'edge1.cfg'} (accepted by kamailio -c)" in out.getvalue()
    module = loaded_module((tmp_path / "edge1.cfg").read_text())
    # The packaged or README location when the host has one, else the install script's build.
    assert module in {installed, str(kamailio.INSTALLED_HTTP_ASYNC_CLIENT), "http_async_client.so"}
    if module == installed:
        # The build cache is root's: say how to give it to Debian's kamailio user.
        assert "Debian's kamailio service (user kamailio) cannot read" in err.getvalue()
        assert f"sudo install -D -m 0644 {installed} " in err.getvalue()


def test_the_lookup_is_the_install_scripts_own(tmp_path, monkeypatch):
    if not harness.requirements().kamailio:
        pytest.skip("needs Kamailio's Debian package (its version names the build directory)")
    monkeypatch.setenv("C4ROUTER_CACHE", str(tmp_path / "cache"))
    env = {**os.environ, "C4ROUTER_CACHE": str(tmp_path / "cache")}
    assert str(kamailio.install_cache_module()) == print_module_path(env)

    monkeypatch.delenv("C4ROUTER_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    env = {k: v for k, v in os.environ.items() if k != "C4ROUTER_CACHE"}
    env["HOME"] = str(tmp_path / "home")
    expected = print_module_path(env)
    assert expected.startswith(str(tmp_path / "home" / ".cache" / "c4router" / "kamailio-"))
    assert str(kamailio.install_cache_module()) == expected


def test_lookup_order_module_directory_then_usr_local_then_the_build(tmp_path, monkeypatch):
    if not harness.requirements().kamailio:
        pytest.skip("needs Kamailio's Debian package (its version names the build directory)")
    monkeypatch.setenv("C4ROUTER_CACHE", str(tmp_path / "cache"))
    built = kamailio.install_cache_module()
    assert built is not None
    usr_local = tmp_path / "usr-local" / "http_async_client.so"
    monkeypatch.setattr(kamailio, "INSTALLED_HTTP_ASYNC_CLIENT", usr_local)
    modules = tmp_path / "modules"
    modules.mkdir()

    # Nothing anywhere: the bare name, which kamailio -c refuses with the install hint.
    assert kamailio.find_http_async_client(str(modules)) == "http_async_client.so"
    built.parent.mkdir(parents=True)
    built.write_bytes(b"\x7fELF")
    assert kamailio.find_http_async_client(str(modules)) == str(built)
    usr_local.parent.mkdir()
    usr_local.write_bytes(b"\x7fELF")
    assert kamailio.find_http_async_client(str(modules)) == str(usr_local)
    (modules / "http_async_client.so").write_bytes(b"\x7fELF")
    assert kamailio.find_http_async_client(str(modules)) == "http_async_client.so"


def test_a_configured_module_wins(edge1, tmp_path, settings):
    settings.KAMAILIO_HTTP_ASYNC_CLIENT = "/opt/kamailio/http_async_client.so"
    call_command("render_kamailio_config", "--output-dir", str(tmp_path), stdout=StringIO())
    assert (
        loaded_module((tmp_path / "edge1.cfg").read_text()) == settings.KAMAILIO_HTTP_ASYNC_CLIENT
    )

    call_command(
        "render_kamailio_config", "--output-dir", str(tmp_path / "option"),
        "--http-async-client", "/srv/http_async_client.so", stdout=StringIO(),
    )  # fmt: skip
    assert loaded_module((tmp_path / "option" / "edge1.cfg").read_text()) == (
        "/srv/http_async_client.so"
    )
