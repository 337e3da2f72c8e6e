"""Issue 11, items 1 and 13 on the Kamailio renderer: no scoped address in a config, the
renderer and the models refuse the same values, and one bad instance blocks no other.

Each test_fNN_ fails on the code before the fix (see the branch's report), except the
`kamailio -c` guard at the end, which pins that what the grammars accept Kamailio accepts.
"""

from __future__ import annotations

import subprocess
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from routing.kamailio import render_instance
from routing.kamailio_render import (
    CAPACITY_OFF,
    OVERLOAD_OFF,
    KamailioConfigError,
    render_kamailio_config,
)
from routing.models import RouterInstance
from tests.e2e import harness

# Issue 11's rendered config: `#!define INJECTED 1` and `children=1` lines from a scope id.
SCOPED_CONFIG = "fe80::1%x\r\n#!define INJECTED 1\r\nchildren=1"
MODULES = "/usr/lib/x86_64-linux-gnu/kamailio/modules/"


def context(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "edge1",
        "listen_ip": "127.0.0.1",
        "listen_port": 5060,
        "transport": "udp",
        "advertised_address": "",
        "api_urls": ["http://127.0.0.1:8000/kamailio/rtjson"],
        "api_timeout_ms": 1000,
        "api_token": "edge1-token-0123456789",
        "http_workers": 2,
        "children": 2,
        "fr_timer_ms": 2000,
        "fr_inv_timer_ms": 30000,
        "failover_codes": [408, 503],
        "http_async_client_module": "http_async_client.so",
        "module_path": MODULES,
        "log_level": 2,
        "call_records": False,
        "cdr_amqp_url": "amqp://guest:guest@127.0.0.1:5672/%2F",
        "cdr_queue": "c4router.cdr",
        "max_call_seconds": 3600,
        **CAPACITY_OFF,
        **OVERLOAD_OFF,
        "api_breaker_failures": 3,
        "api_breaker_seconds": 30,
        "probes": [],
        **overrides,
    }


@pytest.fixture(autouse=True)
def _modules(settings: Any) -> None:
    settings.KAMAILIO_MODULE_PATH = MODULES
    settings.KAMAILIO_HTTP_ASYNC_CLIENT = "http_async_client.so"


# --- item 1 --------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["listen_ip", "advertised_address"])
@pytest.mark.parametrize("value", [SCOPED_CONFIG, "fe80::1%eth0"])
def test_f01_the_renderer_refuses_a_scoped_address(key: str, value: str) -> None:
    with pytest.raises(KamailioConfigError, match=key):
        render_kamailio_config(context(**{key: value}))


@pytest.mark.django_db
def test_f01_a_legacy_instance_with_a_scoped_address_is_reported_and_the_others_rendered(
    tmp_path: Path,
) -> None:
    for name in ("edge1", "edge2", "edge3"):
        instance = RouterInstance(
            name=name, listen_ip="127.0.0.1", api_urls="http://127.0.0.1:8000/kamailio/rtjson",
            token=f"{name}-token-0123456789",
        )  # fmt: skip
        instance.full_clean()
        instance.save()
    # Written before the fix, or around validation: the admin would refuse it today.
    RouterInstance.objects.filter(name="edge2").update(listen_ip=SCOPED_CONFIG)

    out = StringIO()
    with pytest.raises(CommandError) as error:
        call_command("render_kamailio_config", "--output-dir", str(tmp_path), stdout=out)
    assert out.getvalue().splitlines() == [
        f"wrote {tmp_path / 'edge1.cfg'}",
        f"wrote {tmp_path / 'edge3.cfg'}",
    ]
    message = str(error.value)
    assert "instance edge2: " in message and "listen_ip" in message
    # The report names the value with its line breaks escaped: no line of its own.
    assert "\r" not in message and "\n#!define" not in message
    assert "fe80::1%x\\r\\n#!define INJECTED 1" in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["edge1.cfg", "edge3.cfg"]
    for path in tmp_path.iterdir():
        assert "INJECTED" not in path.read_text()


# --- item 13 -------------------------------------------------------------------------------------

# field, value, the renderer's context key for it
DISAGREEMENTS: list[tuple[str, str, str]] = [
    ("token", 'quote"0123456789abcdef', "api_token"),
    ("token", "space 0123456789abcdef", "api_token"),
    ("token", "newline\n0123456789abcdef", "api_token"),
    ("token", "non-ascii-é-0123456789", "api_token"),
    ("api_urls", 'http://127.0.0.1:8000/k";exit;', "api_urls"),
    ("api_urls", "http://127.0.0.1:8000/kamailio\\rtjson", "api_urls"),
    ("name", "-edge", "name"),
    ("advertised_address", "edge.example.", "advertised_address"),
]


@pytest.mark.parametrize(
    ("field", "value", "key"), DISAGREEMENTS, ids=[repr(case[1]) for case in DISAGREEMENTS]
)
def test_f13_the_model_refuses_what_the_renderer_refuses_with_the_same_words(
    field: str, value: str, key: str
) -> None:
    instance = RouterInstance(
        name="edge1", listen_ip="127.0.0.1", api_urls="http://127.0.0.1:8000/kamailio/rtjson",
        token="edge1-token-0123456789",
    )  # fmt: skip
    setattr(instance, field, value)
    with pytest.raises(ValidationError) as refused:
        instance.clean_fields()
        instance.clean()
    (said,) = refused.value.message_dict[field]
    rendered_value: Any = [value] if key == "api_urls" else value
    with pytest.raises(KamailioConfigError) as error:
        render_kamailio_config(context(**{key: rendered_value}))
    assert key in str(error.value)
    # One grammar: the renderer's reason is the model's (minus "Line N: " for the URL list).
    assert said.removeprefix("Line 1: ") in str(error.value)


_VALID: dict[str, st.SearchStrategy[str]] = {
    "name": st.one_of(
        st.sampled_from(["edge1", "e", "edge_1-b", "a" * 50]),
        st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{0,20}", fullmatch=True),
    ),
    "listen_ip": st.sampled_from(["127.0.0.1", "::1", "2001:db8::1", "fe80::1"]),
    "advertised_address": st.sampled_from(
        ["", "198.51.100.10", "2001:db8::10", "edge.example", "e-1.example"]
    ),
    "api_urls": st.lists(
        st.sampled_from(
            ["http://127.0.0.1:8000/kamailio/rtjson", "https://[2001:db8::1]:8443/k?a=b#c",
             "http://c4router:8000/k", "http://u:p@c4.example/k;x=$y'(z)*+,!~%41"]
        ),
        min_size=1,
        max_size=3,
    ).map("\n".join),
    "token": st.from_regex(r"[\x21\x23-\x5b\x5d-\x7e]{16,40}", fullmatch=True),
    "failover_codes": st.sampled_from(["408,503", "486", "408, 480,503"]),
}  # fmt: skip
_INSERT = st.one_of(st.sampled_from("\r\n\x00 %\"\\'é٣\u2028$#;"), st.characters())


@st.composite
def _instances(draw: st.DrawFn) -> RouterInstance:
    """A valid instance, then at most one field made hostile: a character inserted (CR, LF,
    a quote, '%', a space, non-ASCII...) or any text at all."""
    values = {field: draw(valid) for field, valid in _VALID.items()}
    field = draw(st.sampled_from([None, *_VALID]))
    if field is not None:
        value = values[field]
        if draw(st.booleans()):
            at = draw(st.integers(0, len(value)))
            values[field] = value[:at] + draw(_INSERT) + value[at:]
        else:
            values[field] = draw(st.text(max_size=30))
    return RouterInstance(**values)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(instance=_instances())
def test_f13_every_instance_the_model_accepts_renders(instance: RouterInstance) -> None:
    try:
        instance.clean_fields()
        instance.clean()
    except ValidationError:
        return
    event("accepted by the model")  # many examples must be: else this proves nothing
    # Must not raise: what is saved renders (the probes come from the gateways: none here).
    text = render_instance(instance, gateway_probes=[])
    assert "\x00" not in text


# --- carrier health: the probes' values ----------------------------------------------------------


def probe(**overrides: Any) -> dict[str, Any]:
    return {"id": 7, "host": "192.0.2.10", "port": 5060, "transport": "udp", "interval": 10,
            "down_after": 3, "up_after": 2, "alive_codes": [200], **overrides}  # fmt: skip


@pytest.mark.parametrize(
    ("probes", "message"),
    [
        ("x", "must be a list of dicts"),
        ([{"id": 7}], "each probe must be a dict of"),
        ([probe(host='gw"; exit; "')], "probes"),
        ([probe(host="gw.example\nloadmodule")], "probes"),
        ([probe(id=0)], "id must be an int in 1.."),
        ([probe(id=True)], "id must be an int"),
        ([probe(interval=0)], "interval must be an int in 1..3600"),
        ([probe(down_after=101)], "down_after must be an int in 1..100"),
        ([probe(transport="ws")], "transport must be udp, tcp or tls"),
        ([probe(alive_codes=[])], "alive_codes must be codes in 200..699"),
        ([probe(alive_codes=[100])], "alive_codes must be codes in 200..699"),
        ([probe(alive_codes="200")], "alive_codes must be codes in 200..699"),
        ([probe(), probe()], "gateway 7 is listed twice"),
    ],
)
def test_the_renderer_refuses_a_malformed_probe(probes: Any, message: str) -> None:
    with pytest.raises(KamailioConfigError, match="probes") as error:
        render_kamailio_config(context(probes=probes))
    assert message in str(error.value)


def test_probes_need_an_api_url_their_reports_can_reach() -> None:
    with pytest.raises(KamailioConfigError, match="no API URL ends with /rtjson"):
        render_kamailio_config(context(probes=[probe()], api_urls=["http://127.0.0.1:8000/x"]))


@pytest.mark.parametrize(
    ("key", "value"), [("api_breaker_failures", 0), ("api_breaker_seconds", 86_401)]
)
def test_the_renderer_refuses_a_breaker_out_of_range(key: str, value: int) -> None:
    with pytest.raises(KamailioConfigError, match=key):
        render_kamailio_config(context(**{key: value}))


# --- the guard: what the grammars accept, Kamailio's own parser accepts --------------------------


def test_f13_the_widest_values_the_grammars_accept_pass_kamailio_check(tmp_path: Path) -> None:
    harness.skip_or_fail_without_requirements()
    req = harness.requirements()
    widest = [
        {"api_token": "0123456789abcdef!#$%&'()*+,-./:;<=>?@[]^_`{|}~"},
        {"api_urls": ["http://u:p@c4.example:8000/k/r;a=b?x=$ru&y='(z)'*+,!~#frag%41[]@"]},
        {"listen_ip": "::1", "advertised_address": "2001:db8::1"},
        {"advertised_address": "edge.example", "name": "e_1-B"},
        {"name": "a" * 50},
        # The capacity refusal's reason: what the shared reason-phrase grammar accepts,
        # quoted for the config (a quote, a backslash, a "$" that must stay text, UTF-8).
        {"capacity": True, "capacity_reason": 'Busy"); exit; (" \\ $ci $var(x) é' + "x" * 30},
        # Carrier health: the widest probe values (IPv6, a long DNS name, TLS, many codes).
        {
            "probes": [
                probe(
                    id=2**31 - 1,
                    host="2001:db8::1",
                    transport="tls",
                    interval=3600,
                    down_after=100,
                    up_after=100,
                    alive_codes=list(range(200, 700, 7)),
                ),
                probe(id=2, host=("a" * 63 + ".") * 3 + "example", port=65535, interval=1),
            ],
            "api_urls": ["http://127.0.0.1:8000/kamailio/rtjson"],
        },
    ]
    for number, overrides in enumerate(widest):
        config = tmp_path / f"{number}.cfg"
        config.write_text(
            render_kamailio_config(
                context(
                    **overrides,
                    http_async_client_module=req.http_async_client,
                    module_path=req.module_dir,
                )
            )
        )
        proc = subprocess.run(
            [req.kamailio, "-c", "-f", str(config)],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert proc.returncode == 0, (overrides, proc.stdout[-2000:], proc.stderr[-2000:])


# --- capacity ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("capacity", "yes"),
        ("capacity_redis_host", "redis.example"),  # an address: no DNS in the SIP workers
        ("capacity_redis_host", '127.0.0.1";exit;'),
        ("capacity_redis_port", 0),
        ("capacity_code", 200),
        ("capacity_code", "503"),
        # The reason phrase grammar of every refusal (validators.validate_reason_phrase).
        ("capacity_reason", "Busy\r\nX-Injected: 1"),
        ("capacity_reason", "Busy\nnow"),
        ("capacity_reason", "Busy  now"),
        ("capacity_reason", " Busy"),
        ("capacity_reason", "x" * 65),
        ("capacity_reason", ""),
        ("capacity_retry_after", -1),
    ],
)
def test_the_renderer_refuses_a_bad_capacity_setting(key: str, value: Any) -> None:
    with pytest.raises(KamailioConfigError, match=key):
        render_kamailio_config(context(**{"capacity": True, key: value}))


def test_the_capacity_reason_is_quoted_as_one_string_and_never_expanded() -> None:
    # Accepted by the grammar every refusal shares, then quoted by the renderer: the quote
    # and the backslash escaped, the "$" left in a literal assigned to a $var (Kamailio
    # expands pseudo-variables in send_reply's argument, not in a literal).
    on = render_kamailio_config(context(capacity=True, capacity_reason='Busy"); exit; (" \\ $ci'))
    assert '$var(c4_cap_reason) = "Busy\\"); exit; (\\" \\\\ $ci";' in on
    assert 'send_reply("503", "$var(c4_cap_reason)");' in on


def test_the_capacity_section_is_rendered_only_when_on() -> None:
    off = render_kamailio_config(context())
    assert "ndb_redis" not in off and "CAPACITY" not in off
    on = render_kamailio_config(
        context(capacity=True, capacity_reason="Over Capacity", capacity_retry_after=0)
    )
    assert '$var(c4_cap_reason) = "Over Capacity";' in on
    assert 'send_reply("503", "$var(c4_cap_reason)");' in on
    assert "Retry-After" not in on  # 0: no header
