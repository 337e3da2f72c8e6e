"""manage.py ensure_router_instance: create a router instance, update it, run it again."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from routing.instances import ensure_router_instance
from routing.models import RouterInstance, current_routing_version

pytestmark = pytest.mark.django_db

LAB = [
    "lab", "--listen-ip", "10.99.0.10", "--listen-port", "5060",
    "--api-url", "http://10.99.0.5:8000/kamailio/rtjson",
]  # fmt: skip


def run(*args: str) -> str:
    out = StringIO()
    call_command("ensure_router_instance", *args, stdout=out)
    return out.getvalue().strip()


def test_creates_the_instance_with_a_generated_token():
    assert run(*LAB) == "router instance lab: created"

    instance = RouterInstance.objects.get(name="lab")
    assert instance.listen_ip == "10.99.0.10"
    assert instance.listen_port == 5060
    assert instance.api_url_list == ["http://10.99.0.5:8000/kamailio/rtjson"]
    assert instance.transport == "udp"  # the model's defaults for what was not given
    assert instance.http_workers == 4
    assert len(instance.token) >= 32
    assert instance.history.count() == 1


def test_running_it_again_writes_nothing():
    run(*LAB)
    instance = RouterInstance.objects.get(name="lab")
    version = current_routing_version()

    assert run(*LAB) == "router instance lab: already up to date"

    again = RouterInstance.objects.get(name="lab")
    assert (again.token, again.updated_at) == (instance.token, instance.updated_at)
    assert again.history.count() == 1
    assert current_routing_version() == version  # no table rebuild in every worker


def test_updates_only_what_changed_and_keeps_the_token():
    run(*LAB)
    token = RouterInstance.objects.get(name="lab").token
    version = current_routing_version()

    output = run(
        "lab", "--api-url", "http://10.99.0.5:8000/kamailio/rtjson",
        "--api-url", "http://10.99.0.6:8000/kamailio/rtjson", "--children", "4",
    )  # fmt: skip

    assert output == "router instance lab: updated api_urls, children"
    instance = RouterInstance.objects.get(name="lab")
    assert instance.api_url_list == [
        "http://10.99.0.5:8000/kamailio/rtjson",
        "http://10.99.0.6:8000/kamailio/rtjson",
    ]
    assert instance.children == 4
    assert instance.listen_ip == "10.99.0.10"  # not given: untouched
    assert instance.token == token
    assert current_routing_version() > version


def test_disable_and_enable():
    run(*LAB)
    assert run("lab", "--disable") == "router instance lab: updated enabled"
    assert RouterInstance.objects.get(name="lab").enabled is False
    assert run("lab", "--enable") == "router instance lab: updated enabled"
    assert RouterInstance.objects.get(name="lab").enabled is True


def test_creating_needs_an_address_and_an_api_url():
    with pytest.raises(CommandError) as error:
        run("lab")
    assert "router instance lab:" in str(error.value)
    assert "listen_ip" in str(error.value)
    assert "api_urls" in str(error.value)
    assert not RouterInstance.objects.exists()


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--listen-ip", "10.99.0.300"], "listen_ip"),
        (["--api-url", "ftp://10.99.0.5/"], "api_urls"),
        (["--api-timeout-ms", "5"], "api_timeout_ms"),
        (["--failover-codes", "503,abc"], "failover_codes"),
    ],
)
def test_a_bad_value_is_refused_with_the_admin_message_and_nothing_written(args, field):
    run(*LAB)
    before = RouterInstance.objects.get(name="lab")

    with pytest.raises(CommandError, match=f"router instance lab: {field}: "):
        run("lab", *args)

    after = RouterInstance.objects.get(name="lab")
    assert (after.listen_ip, after.api_urls, after.api_timeout_ms, after.failover_codes) == (
        before.listen_ip,
        before.api_urls,
        before.api_timeout_ms,
        before.failover_codes,
    )


def test_the_service_refuses_an_unknown_field():
    with pytest.raises(TypeError, match="token"):
        ensure_router_instance("lab", token="chosen-by-the-caller-0123456789")


def test_the_rendered_config_follows_the_instance(tmp_path):
    """What the compose lab's render service does: ensure, then render."""
    run(*LAB)
    call_command(
        "render_kamailio_config", "--instance", "lab", "--output-dir", str(tmp_path),
        "--force", "--http-async-client", "/usr/local/lib/kamailio/http_async_client.so",
        stdout=StringIO(),
    )  # fmt: skip
    text = (tmp_path / "lab.cfg").read_text()
    assert "listen=udp:10.99.0.10:5060" in text
    assert '"http://10.99.0.5:8000/kamailio/rtjson"' in text
    assert RouterInstance.objects.get(name="lab").token in text
