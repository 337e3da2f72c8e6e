"""manage.py render_kamailio_config: golden output, safe writes, and the real `kamailio -c`."""

from __future__ import annotations

import os
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from routing import kamailio
from routing.models import Carrier, Gateway, HealthPolicy, RouterInstance
from tests.e2e import harness

GOLDEN = Path(__file__).resolve().parent.parent / "data" / "golden" / "edge1.cfg"
DEBIAN_MODULES = "/usr/lib/x86_64-linux-gnu/kamailio/modules/"

pytestmark = pytest.mark.django_db


def saved(obj):  # type: ignore[no-untyped-def]
    obj.full_clean()
    obj.save()
    return obj


@pytest.fixture(autouse=True)
def _default_module_settings(settings):  # type: ignore[no-untyped-def]
    # The golden file must not depend on the KAMAILIO_* variables of the machine running it.
    settings.KAMAILIO_MODULE_PATH = DEBIAN_MODULES
    settings.KAMAILIO_HTTP_ASYNC_CLIENT = "http_async_client.so"
    # ... nor on its C4ROUTER_CDR_* ones; the golden file shows the call records section.
    settings.C4ROUTER_CDR = {
        "ENABLED": True, "AMQP_URL": "amqp://guest:guest@127.0.0.1:5672/%2F",
        "QUEUE": "c4router.cdr", "RETENTION_DAYS": 90, "MAX_CALL_SECONDS": 14400,
    }  # fmt: skip
    # ... and on its C4ROUTER_CAPACITY_* ones: it shows the capacity section too.
    settings.C4ROUTER_CAPACITY = {
        "ENABLED": True, "REDIS_HOST": "127.0.0.1", "REDIS_PORT": 6379, "REDIS_DB": 0,
        "CODE": 503,
        "REASON": "Capacity Exceeded", "RETRY_AFTER": 5,
    }  # fmt: skip
    settings.C4ROUTER_OVERLOAD_API_QUERIES = 200


@pytest.fixture
def edge1() -> RouterInstance:
    """An instance as an operator fills it in, every field set (the golden file's input)."""
    return saved(
        RouterInstance(
            name="edge1",
            listen_ip="127.0.0.1",
            listen_port=5060,
            transport="udp",
            advertised_address="198.51.100.10",
            api_urls="http://127.0.0.1:8000/kamailio/rtjson\nhttp://127.0.0.2:8000/kamailio/rtjson",
            api_timeout_ms=1500,
            http_workers=4,
            children=8,
            fr_timer=5000,
            fr_inv_timer=30000,
            failover_codes="408,500,502,503,504",
            token="golden-token-0123456789abcdef",
        )
    )


@pytest.fixture(autouse=True)
def watched_gateways(db) -> None:  # type: ignore[no-untyped-def]
    """Carrier health in the golden file: Alpha's policy probes its gateways every 10 s,
    alpha-2 has its own (30 s, 404 alive too); a disabled gateway and an unwatched carrier
    are not probed. Ids fixed: they are written in the config."""
    standard = saved(HealthPolicy(name="standard", probe_interval=10, down_after=3, up_after=2))
    lenient = saved(HealthPolicy(name="lenient", probe_interval=30, down_after=5, up_after=1,
                                 alive_codes="200,404"))  # fmt: skip
    alpha = saved(Carrier(name="Alpha", health_policy=standard))
    beta = saved(Carrier(name="Beta"))
    saved(Gateway(pk=901, carrier=alpha, name="alpha-1", host="203.0.113.10"))
    saved(Gateway(pk=902, carrier=alpha, name="alpha-2", host="gw.alpha.example", port=5080,
                  transport="tcp", health_policy=lenient))  # fmt: skip
    saved(Gateway(pk=903, carrier=alpha, name="alpha-3", host="203.0.113.12", enabled=False))
    saved(Gateway(pk=904, carrier=beta, name="beta-1", host="192.0.2.20"))


@pytest.fixture
def edge2_disabled() -> RouterInstance:
    return saved(
        RouterInstance(
            name="edge2",
            listen_ip="127.0.0.1",
            listen_port=5070,
            api_urls="http://127.0.0.1:8000/kamailio/rtjson",
            token="edge2-token-0123456789abcdef",
            enabled=False,
        )
    )


@pytest.fixture
def kamailio_installed() -> harness.Requirements:
    """Kamailio and the http_async_client module (skip, or fail under C4ROUTER_REQUIRE_E2E=1)."""
    harness.skip_or_fail_without_requirements()
    return harness.requirements()


def render(*args: str) -> str:
    out = StringIO()
    call_command("render_kamailio_config", *args, stdout=out)
    return out.getvalue()


def test_matches_the_golden_file(edge1, tmp_path):
    out = render("--instance", "edge1", "--output-dir", str(tmp_path))
    written = tmp_path / "edge1.cfg"
    assert out == f"wrote {written}\n"
    text = written.read_text()
    # A change to the template or to the mapping shows up as a diff of this file. When the
    # change is intended, regenerate it and review the diff before committing:
    #   UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/commands/test_render_kamailio_config.py
    if os.environ.get("UPDATE_GOLDEN") == "1":
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text()
    # The mapping, spelled out where the golden file's size hides it.
    assert "listen=udp:127.0.0.1:5060 advertise 198.51.100.10:5060" in text
    assert '$var(c4_api_url) = "http://127.0.0.2:8000/kamailio/rtjson";' in text
    assert "X-C4-Token: golden-token-0123456789abcdef" in text
    assert 't_check_status("^(408|500|502|503|504)$")' in text
    assert f'mpath="{DEBIAN_MODULES}"' in text
    # Carrier health: one timer per interval, each gateway with its own policy's values.
    assert 'modparam("rtimer", "timer", "name=c4probe10;interval=10;mode=1;")' in text
    assert '$var(c4_uri) = "sip:203.0.113.10:5060";' in text
    assert '$var(c4_uri) = "sip:gw.alpha.example:5080;transport=tcp";' in text
    assert "sip:203.0.113.12" not in text and "sip:192.0.2.20" not in text
    assert "$var(c4_code) == 200 || $var(c4_code) == 404" in text
    assert '"http://127.0.0.1:8000/kamailio/health"' in text
    assert 'loadmodule "http_async_client.so"' in text
    # The token is a secret: the new file is not world-readable.
    assert written.stat().st_mode & 0o777 == 0o640


def test_module_options_override_the_settings(edge1, tmp_path):
    render(
        "--output-dir", str(tmp_path),
        "--http-async-client", "/opt/kamailio/http_async_client.so",
        "--module-path", "/usr/local/lib64/kamailio/modules/",
    )  # fmt: skip
    text = (tmp_path / "edge1.cfg").read_text()
    assert 'loadmodule "/opt/kamailio/http_async_client.so"' in text
    assert 'mpath="/usr/local/lib64/kamailio/modules/"' in text


def test_refuses_to_overwrite_without_force(edge1, tmp_path):
    existing = tmp_path / "edge1.cfg"
    existing.write_text("# the config Kamailio runs now\n")
    existing.chmod(0o600)
    with pytest.raises(CommandError, match=r"refusing to overwrite .*edge1\.cfg.*--force"):
        render("--output-dir", str(tmp_path))
    assert existing.read_text() == "# the config Kamailio runs now\n"

    assert render("--output-dir", str(tmp_path), "--force") == f"wrote {existing}\n"
    assert existing.read_text().startswith("#!KAMAILIO")
    assert existing.stat().st_mode & 0o777 == 0o600  # the operator's mode is kept
    assert sorted(p.name for p in tmp_path.iterdir()) == ["edge1.cfg"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(edge1, tmp_path, monkeypatch):
    existing = tmp_path / "edge1.cfg"
    existing.write_text("old\n")

    def disk_full(src, dst):  # type: ignore[no-untyped-def]
        raise OSError(28, "No space left on device", str(dst))

    monkeypatch.setattr(kamailio.os, "replace", disk_full)
    with pytest.raises(CommandError, match=r"cannot write .*edge1\.cfg: No space left on device"):
        render("--output-dir", str(tmp_path), "--force")
    assert existing.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["edge1.cfg"]


def test_an_unwritable_directory_is_a_clear_error(edge1, tmp_path, monkeypatch):
    def read_only(*args, dir, prefix, suffix):  # type: ignore[no-untyped-def]
        raise PermissionError(13, "Permission denied", f"{dir}/{prefix}x{suffix}")

    monkeypatch.setattr(kamailio.tempfile, "mkstemp", read_only)
    with pytest.raises(CommandError, match=r"cannot write .*/edge1\.cfg: Permission denied$"):
        render("--output-dir", str(tmp_path))
    assert list(tmp_path.iterdir()) == []


def test_one_instance_that_cannot_be_rendered_does_not_block_the_others(edge1, tmp_path):
    # A row written around the admin's validation: the renderer refuses the quote, says
    # so, and writes the others (they must not stay on their old config because of it).
    RouterInstance.objects.create(
        name="edge3", listen_ip="127.0.0.1", api_urls="http://127.0.0.1:8000/kamailio/rtjson",
        token='bad"token-0123456789abcdef',
    )  # fmt: skip
    out = StringIO()
    with pytest.raises(CommandError, match=r"not rendered.*\ninstance edge3: .*api_token"):
        call_command("render_kamailio_config", "--output-dir", str(tmp_path), stdout=out)
    assert out.getvalue() == f"wrote {tmp_path / 'edge1.cfg'}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["edge1.cfg"]


def test_nothing_to_render_is_an_error_naming_the_instance(tmp_path):
    RouterInstance.objects.create(
        name="edge3", listen_ip="127.0.0.1", api_urls="http://127.0.0.1:8000/kamailio/rtjson",
        token='bad"token-0123456789abcdef',
    )  # fmt: skip
    with pytest.raises(CommandError, match=r"^instance edge3: .*api_token"):
        render("--output-dir", str(tmp_path))
    assert list(tmp_path.iterdir()) == []


def test_unknown_instance_is_an_error(edge1, tmp_path):
    with pytest.raises(CommandError, match=r"unknown router instance\(s\): nope \(known: edge1\)"):
        render("--instance", "edge1", "--instance", "nope", "--output-dir", str(tmp_path))
    assert list(tmp_path.iterdir()) == []


def test_disabled_instances_are_skipped_unless_named(edge1, edge2_disabled, tmp_path):
    assert render("--output-dir", str(tmp_path)) == f"wrote {tmp_path / 'edge1.cfg'}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["edge1.cfg"]

    out = render("--instance", "edge2", "--output-dir", str(tmp_path))
    assert out == f"wrote {tmp_path / 'edge2.cfg'}\n"
    assert "listen=udp:127.0.0.1:5070" in (tmp_path / "edge2.cfg").read_text()


def test_no_enabled_instance_is_an_error(edge2_disabled, tmp_path):
    with pytest.raises(CommandError, match="no enabled router instance"):
        render("--output-dir", str(tmp_path))


def test_output_dir_is_created(edge1, tmp_path):
    target = tmp_path / "etc" / "kamailio" / "c4router"
    render("--output-dir", str(target))
    assert (target / "edge1.cfg").is_file()


def test_check_passes_with_real_kamailio(edge1, edge2_disabled, tmp_path, kamailio_installed):
    out = render(
        "--instance", "edge1", "--instance", "edge2", "--output-dir", str(tmp_path), "--check",
        "--http-async-client", kamailio_installed.http_async_client,
        "--module-path", kamailio_installed.module_dir,
    )  # fmt: skip
    assert out.splitlines() == [
        f"wrote {tmp_path / 'edge1.cfg'} (accepted by kamailio -c)",
        f"wrote {tmp_path / 'edge2.cfg'} (accepted by kamailio -c)",
    ]
    assert harness.kamailio_check(tmp_path / "edge1.cfg").returncode == 0


def test_check_fails_on_a_broken_module_path_with_kamailio_error(
    edge1, tmp_path, kamailio_installed
):
    with pytest.raises(CommandError) as failure:
        render(
            "--output-dir", str(tmp_path), "--check",
            "--http-async-client", kamailio_installed.http_async_client,
            "--module-path", "/nonexistent/kamailio/modules/",
        )  # fmt: skip
    message = str(failure.value)
    assert "kamailio -c rejected the config of instance edge1, nothing was written" in message
    # Kamailio's own words, naming the file the config would have become.
    assert "could not find module <kex> in </nonexistent/kamailio/modules/>" in message
    assert f"parse error in config file {tmp_path / 'edge1.cfg'}" in message
    assert list(tmp_path.iterdir()) == []


def test_check_hints_at_the_module_debian_does_not_package(edge1, tmp_path, kamailio_installed):
    """The default 'http_async_client.so' is looked up in the module directory, where
    Debian's packages never put it."""
    if Path(kamailio_installed.module_dir, "http_async_client.so").exists():
        pytest.skip("this machine has http_async_client.so in Kamailio's module directory")
    with pytest.raises(CommandError) as failure:
        render(
            "--output-dir", str(tmp_path), "--check", "--module-path", kamailio_installed.module_dir
        )
    message = str(failure.value)
    assert "could not find module <http_async_client>" in message
    assert "hint: Debian does not package http_async_client" in message
    assert "--http-async-client PATH" in message
    assert list(tmp_path.iterdir()) == []


def test_check_without_kamailio_says_how_to_install_it(edge1, tmp_path, monkeypatch):
    monkeypatch.setattr(kamailio, "find_kamailio", lambda: None)
    with pytest.raises(CommandError, match=r"needs Kamailio.*sudo bin/install-kamailio"):
        render("--output-dir", str(tmp_path), "--check")
    assert list(tmp_path.iterdir()) == []
