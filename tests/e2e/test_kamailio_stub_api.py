"""The rendered Kamailio config, proven on the wire: real Kamailio + SIPp callers and
carriers, and a stub HTTP routing API (stdlib http.server, no Django).

Run:  python -m pytest tests/e2e/test_kamailio_stub_api.py -p no:django -v
Needs `bin/install-kamailio` (skipped otherwise; C4ROUTER_REQUIRE_E2E=1 makes it fail).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import harness as h
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from routing.kamailio_render import KamailioConfigError, render_kamailio_config  # noqa: E402

QUERY_SCHEMA = (
    Path(os.environ.get("C4ROUTER_SHARED", "/work/shared"))
    / "contract"
    / "rtjson-query.schema.json"
)
if not QUERY_SCHEMA.is_file():  # CI lays shared/ beside the clone
    for cand in (REPO.parent / "shared", REPO / "shared"):
        if (cand / "contract" / "rtjson-query.schema.json").is_file():
            QUERY_SCHEMA = cand / "contract" / "rtjson-query.schema.json"
            break

TOKEN = "e2e-s3cret-token"
API_TIMEOUT_MS = 1000
EXTRA = "X-C4-Test: hello world\r\nX-C4-Carrier-Id: 42\r\n"


def make_context(**overrides) -> dict:
    req = h.requirements()
    ctx = dict(
        name="e2e",
        listen_ip="127.0.0.1",
        listen_port=5060,
        transport="udp",
        advertised_address="",
        api_urls=["http://127.0.0.1:8000/kamailio/rtjson"],
        api_timeout_ms=API_TIMEOUT_MS,
        api_token=TOKEN,
        http_workers=2,
        children=2,
        fr_timer_ms=2000,
        fr_inv_timer_ms=30000,
        failover_codes=[408, 500, 502, 503, 504],
        http_async_client_module=req.http_async_client or "http_async_client.so",
        module_path=req.module_dir or h.DEFAULT_MODULE_DIR,
        log_level=2,
        # The records have their own suite (tests/e2e/test_call_records.py).
        call_records=False,
        cdr_amqp_url="amqp://guest:guest@127.0.0.1:5672/%2F",
        cdr_queue="c4router.cdr",
        max_call_seconds=3600,
        # Capacity limits have their own suite (tests/e2e/test_capacity.py).
        capacity=False,
        capacity_redis_host="127.0.0.1",
        capacity_redis_port=6379,
        capacity_redis_db=0,
        capacity_code=503,
        capacity_reason="Capacity Exceeded",
        capacity_retry_after=5,
        overload_api_queries=0,
        # The API URLs' breaker has its own test (test_carrier_health.py): here every call
        # tries every URL, as these tests expect.
        api_breaker_failures=1000,
        api_breaker_seconds=30,
        probes=[],
    )
    ctx.update(overrides)
    return ctx


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def stub():
    with h.StubAPI() as s:
        yield s


@pytest.fixture
def api(stub):
    stub.reset(lambda req: (503, "no handler set", 0.0))
    yield stub
    stub.reset(lambda req: (503, "no handler set", 0.0))


@pytest.fixture
def kamailio_factory(tmp_path):
    started: list[h.KamailioProcess] = []

    def start(**overrides) -> h.KamailioProcess:
        port = h.free_port()
        ctx = make_context(listen_port=port, **overrides)
        k = h.KamailioProcess(
            render_kamailio_config(ctx), port, tmp_path / f"kamailio-{len(started)}"
        )
        started.append(k)
        return k.start()

    yield start
    for k in started:
        k.stop()


@pytest.fixture(scope="module")
def edge(stub, tmp_path_factory):
    """The default edge for most tests: one API URL (the stub)."""
    h.skip_or_fail_without_requirements()  # module scope: runs before the autouse check
    port = h.free_port()
    ctx = make_context(listen_port=port, api_urls=[stub.url])
    with h.KamailioProcess(render_kamailio_config(ctx), port, tmp_path_factory.mktemp("edge")) as k:
        yield k


def carrier(uas: h.SippUAS, n: int, **kw) -> dict:
    """A route to a SIPp carrier: Request-URI user/host tell which route was used."""
    return h.rtjson_route(
        uas.uri,
        f"sip:+1555000{n}@carrier{n}.example",
        from_=kw.pop("from_", ("C4 Caller", "sip:+3312345@c4.example")),
        to=kw.pop("to", (f"Carrier {n}", f"sip:+1555000{n}@carrier{n}.example")),
        extra=kw.pop("extra", EXTRA),
        fr_timer=kw.pop("fr_timer", 2000),
        fr_inv_timer=kw.pop("fr_inv_timer", 10000),
        **kw,
    )


def routes_to(*routes):
    answer = h.rtjson_routes(*routes)
    return lambda req: (200, answer, 0.0)


def show(*things) -> str:
    return "\n".join(t.describe() if hasattr(t, "describe") else str(t) for t in things)


# ------------------------------------------------------------------ render (no Kamailio)


def test_render_missing_key_is_a_clear_error():
    ctx = make_context()
    del ctx["api_urls"]
    with pytest.raises(KamailioConfigError, match="api_urls"):
        render_kamailio_config(ctx)


def test_render_refuses_values_that_break_the_config():
    with pytest.raises(KamailioConfigError, match="api_token"):
        render_kamailio_config(make_context(api_token='x"; exit;'))
    with pytest.raises(KamailioConfigError, match="listen_port"):
        render_kamailio_config(make_context(listen_port="5060"))


def test_render_without_django_settings():
    """Standalone Engine: no DJANGO_SETTINGS_MODULE, and ints are not localized."""
    ctx = make_context(fr_inv_timer_ms=30000, api_urls=["http://a/x", "http://b/y"])
    code = (
        f"import sys; sys.path.insert(0, {str(REPO)!r})\n"
        "from routing.kamailio_render import render_kamailio_config\n"
        f"print(render_kamailio_config({ctx!r}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert 'modparam("tm", "fr_inv_timer", 30000)' in out
    assert '"http://a/x"' in out and '"http://b/y"' in out
    assert "X-C4-Token: " + TOKEN in out
    assert "{{" not in out and "{%" not in out

    # Configured Django with thousand separators must not turn 30000 into "30,000".
    code2 = code.replace(
        "from routing",
        "from django.conf import settings; "
        "settings.configure(USE_THOUSAND_SEPARATOR=True, USE_I18N=True)\n"
        "import django; django.setup()\nfrom routing",
    )
    proc2 = subprocess.run(
        [sys.executable, "-c", code2],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert proc2.returncode == 0, proc2.stderr
    assert proc2.stdout == out


# ------------------------------------------------------------------ e2e


@pytest.mark.e2e
def test_rendered_config_passes_kamailio_check(tmp_path, stub):
    for ctx in (
        make_context(api_urls=[stub.url]),
        make_context(
            api_urls=[stub.url, "http://127.0.0.1:9/x"],
            api_token="",
            failover_codes=[],
            advertised_address="192.0.2.10",
            transport="tcp",
        ),
    ):
        cfg = tmp_path / "kamailio.cfg"
        cfg.write_text(render_kamailio_config(ctx))
        res = h.kamailio_check(cfg)
        assert res.returncode == 0, res.stdout


@pytest.mark.e2e
def test_call_completes_with_rewritten_uri_from_to_and_extra_headers(edge, api, tmp_path):
    with h.SippUAS("uas.xml", workdir=tmp_path, tag="carrier1") as c1:
        api.handler = routes_to(carrier(c1, 1))
        caller = h.run_sipp("uac.xml", edge.port, workdir=tmp_path, service="15550001")
        seen = c1.wait(10)
    assert caller.ok, show(caller, seen, edge.log_tail())
    assert seen.ok, show(caller, seen)

    # caller side: ringing, answered, hung up; From/To restored by uac for the caller
    assert 180 in [m.status for m in caller.received()]
    ok = [m for m in caller.received() if m.status == 200 and m.cseq_method == "INVITE"]
    assert ok and "sip:alice@" in ok[0].header("From") and '"Bob"' in ok[0].header("To")
    assert caller.final_status("BYE") == 200

    # carrier side: what the API asked for
    invite = seen.received("INVITE")[0]
    assert invite.request_uri == "sip:+15550001@carrier1.example"
    assert invite.header("From").startswith("C4 Caller <sip:+3312345@c4.example>;tag=")
    assert invite.header("To") == "Carrier 1 <sip:+15550001@carrier1.example>"
    assert invite.header("X-C4-Test") == "hello world"
    assert invite.header("X-C4-Carrier-Id") == "42"
    assert invite.header("Record-Route")
    assert [m.method for m in seen.received()] == ["INVITE", "ACK", "BYE"]
    # the BYE reached the carrier with the From/To the carrier knows
    bye = seen.received("BYE")[0]
    assert "sip:+3312345@c4.example" in bye.header("From")

    # call set-up time through Kamailio + API (INVITE sent -> 200 received)
    inv_t = next(m.time for m in caller.messages if m.method == "INVITE")
    ok_t = ok[0].time
    print(f"call setup INVITE->200: {(ok_t - inv_t) * 1000:.0f} ms (carrier pauses 150 ms)")


@pytest.mark.e2e
def test_api_query_has_token_and_contract_body(edge, api, tmp_path):
    jsonschema = pytest.importorskip("jsonschema")
    with h.SippUAS("uas.xml", workdir=tmp_path) as c1:
        api.handler = routes_to(carrier(c1, 1))
        caller = h.run_sipp("uac.xml", edge.port, workdir=tmp_path, service="15550001")
        c1.wait(10)
    assert caller.ok, show(caller, edge.log_tail())
    assert len(api.requests) == 1
    req = api.requests[0]
    assert req.path == "/kamailio/rtjson"
    assert req.headers.get("X-C4-Token") == TOKEN
    assert req.headers.get("Content-Type") == "application/json"
    body = req.json()
    schema = json.loads(QUERY_SCHEMA.read_text())
    jsonschema.validate(body, schema)
    invite = next(m for m in caller.messages if m.method == "INVITE")
    assert body["event"] == "sip-routing"
    assert body["source_ip"] == "127.0.0.1"
    assert int(body["source_port"]) == int(invite.header("Via").split(":")[-1].split(";")[0])
    assert int(body["auth"]) == 0
    assert body["call_id"] == invite.header("Call-ID")
    assert body["from_name"] == "Alice"
    assert body["from_uri"].startswith("sip:alice@127.0.0.1:")
    assert body["from_tag"] == invite.header("From").split("tag=")[1]
    assert body["to_name"] == "Bob"
    assert body["to_uri"] == f"sip:15550001@127.0.0.1:{edge.port}"
    assert body["to_tag"] == "<null>"  # KAMAILIO.md: a null PV is sent as "<null>"


@pytest.mark.e2e
def test_no_token_header_when_token_is_empty(kamailio_factory, api, tmp_path):
    k = kamailio_factory(api_urls=[api.url], api_token="")
    api.handler = lambda req: (200, h.rtjson_refusal(404, "No Route"), 0.0)
    caller = h.run_sipp("uac_expect_fail.xml", k.port, workdir=tmp_path)
    assert caller.ok and caller.final_status() == 404, show(caller)
    assert api.requests and "X-C4-Token" not in api.requests[0].headers


@pytest.mark.e2e
def test_503_fails_over_to_second_carrier(edge, api, tmp_path):
    with (
        h.SippUAS("uas_503.xml", workdir=tmp_path, tag="c503") as c1,
        h.SippUAS("uas.xml", workdir=tmp_path, tag="c2") as c2,
    ):
        api.handler = routes_to(carrier(c1, 1), carrier(c2, 2))
        caller = h.run_sipp("uac.xml", edge.port, workdir=tmp_path, service="15550001")
        s1, s2 = c1.wait(10), c2.wait(10)
    assert caller.ok, show(caller, s1, s2, edge.log_tail())
    assert 503 not in [m.status for m in caller.received()]
    assert [m.method for m in s1.received()] == ["INVITE", "ACK"]
    assert s1.received("INVITE")[0].request_uri == "sip:+15550001@carrier1.example"
    inv2 = s2.received("INVITE")[0]
    assert inv2.request_uri == "sip:+15550002@carrier2.example"
    assert inv2.header("To") == "Carrier 2 <sip:+15550002@carrier2.example>"
    assert inv2.header("X-C4-Test") == "hello world"
    assert [m.method for m in s2.received()] == ["INVITE", "ACK", "BYE"]


@pytest.mark.e2e
def test_486_is_final_and_second_carrier_sees_nothing(edge, api, tmp_path):
    with (
        h.SippUAS("uas_486.xml", workdir=tmp_path, tag="c486") as c1,
        h.SippUAS("uas.xml", workdir=tmp_path, tag="c2") as c2,
    ):
        api.handler = routes_to(carrier(c1, 1), carrier(c2, 2))
        caller = h.run_sipp("uac_expect_fail.xml", edge.port, workdir=tmp_path)
        s1 = c1.wait(10)
        time.sleep(0.3)
        s2 = c2.stop()
    assert caller.ok, show(caller, s1, edge.log_tail())
    assert caller.final_status() == 486, show(caller)
    assert [m.method for m in s1.received()] == ["INVITE", "ACK"]
    assert s2.received() == [], show(s2)


@pytest.mark.e2e
@pytest.mark.parametrize(
    "code,reason", [(404, "No Route"), (403, "Forbidden"), (480, "Temporarily Unavailable")]
)
def test_api_refusal_is_relayed(edge, api, tmp_path, code, reason):
    api.handler = lambda req: (200, h.rtjson_refusal(code, reason), 0.0)
    caller = h.run_sipp("uac_expect_fail.xml", edge.port, workdir=tmp_path)
    assert caller.ok, show(caller, edge.log_tail())
    final = [m for m in caller.received() if m.status and m.status >= 200][-1]
    assert (final.status, final.reason) == (code, reason)


@pytest.mark.e2e
def test_api_down_gives_500(kamailio_factory, tmp_path):
    k = kamailio_factory(api_urls=[f"http://127.0.0.1:{h.closed_port()}/kamailio/rtjson"])
    caller = h.run_sipp("uac_expect_fail.xml", k.port, workdir=tmp_path)
    assert caller.ok, show(caller, k.log_tail())
    final = [m for m in caller.received() if m.status and m.status >= 200][-1]
    assert (final.status, final.reason) == (500, "API Not Available")


@pytest.mark.e2e
def test_api_slower_than_timeout_gives_500_in_time(edge, api, tmp_path):
    api.handler = lambda req: (200, h.rtjson_refusal(404, "Too Late"), 3.0)
    caller = h.run_sipp("uac_expect_fail.xml", edge.port, workdir=tmp_path)
    assert caller.ok, show(caller, edge.log_tail())
    final = [m for m in caller.received() if m.status and m.status >= 200][-1]
    assert final.status == 500
    inv_t = next(m.time for m in caller.messages if m.method == "INVITE")
    took = final.time - inv_t
    print(f"API timeout {API_TIMEOUT_MS} ms -> 500 after {took * 1000:.0f} ms")
    assert API_TIMEOUT_MS / 1000 * 0.8 <= took <= API_TIMEOUT_MS / 1000 + 1.0


@pytest.mark.e2e
@pytest.mark.parametrize(
    "answer",
    [
        (200, "this is not json", 0.0),
        (200, {"routes": []}, 0.0),  # JSON without rtjson
        (502, {"rtjson": {"success": False, "code": 404, "reason": "x"}}, 0.0),  # non-200
    ],
    ids=["not-json", "no-rtjson", "http-502"],
)
def test_bad_api_answer_gives_500(edge, api, tmp_path, answer):
    api.handler = lambda req: answer
    caller = h.run_sipp("uac_expect_fail.xml", edge.port, workdir=tmp_path)
    assert caller.ok, show(caller, edge.log_tail())
    final = [m for m in caller.received() if m.status and m.status >= 200][-1]
    assert (final.status, final.reason) == (500, "API Not Available")


@pytest.mark.e2e
@pytest.mark.parametrize("first", ["down", "http-500"])
def test_second_api_url_used_when_first_fails(kamailio_factory, api, tmp_path, first):
    if first == "down":
        first_url = f"http://127.0.0.1:{h.closed_port()}/kamailio/rtjson"
        bad = None
    else:
        bad = h.StubAPI(lambda req: (500, "boom", 0.0)).start()
        first_url = bad.url
    try:
        k = kamailio_factory(api_urls=[first_url, api.url])
        with h.SippUAS("uas.xml", workdir=tmp_path) as c1:
            api.handler = routes_to(carrier(c1, 1))
            caller = h.run_sipp("uac.xml", k.port, workdir=tmp_path, service="15550001")
            seen = c1.wait(10)
    finally:
        if bad:
            bad.stop()
    assert caller.ok, show(caller, seen, k.log_tail())
    assert len(api.requests) == 1
    assert api.requests[0].headers.get("X-C4-Token") == TOKEN
    if bad:
        assert len(bad.requests) == 1
        assert bad.requests[0].body == api.requests[0].body  # same query retried
    assert seen.received("INVITE")[0].request_uri == "sip:+15550001@carrier1.example"


@pytest.mark.e2e
def test_cancel_while_ringing_gives_487_without_failover(edge, api, tmp_path):
    with (
        h.SippUAS("uas_ring.xml", workdir=tmp_path, tag="ring") as c1,
        h.SippUAS("uas.xml", workdir=tmp_path, tag="c2") as c2,
    ):
        api.handler = routes_to(carrier(c1, 1), carrier(c2, 2))
        caller = h.run_sipp("uac_cancel.xml", edge.port, workdir=tmp_path, duration_ms=300)
        s1 = c1.wait(10)
        time.sleep(0.3)
        s2 = c2.stop()
    assert caller.ok, show(caller, s1, edge.log_tail())
    assert caller.final_status("INVITE") == 487
    assert caller.final_status("CANCEL") == 200
    assert s1.ok, show(s1)
    assert [m.method for m in s1.received()] == ["INVITE", "CANCEL", "ACK"]
    assert s2.received() == [], show(s2)


@pytest.mark.e2e
def test_api_slower_than_fr_timer_still_routes(kamailio_factory, api, tmp_path):
    """While the transaction is suspended, tm's fr_timer runs on the blind branch: an
    API answer slower than fr_timer (but within api_timeout_ms) must still route."""
    k = kamailio_factory(api_urls=[api.url], fr_timer_ms=500, api_timeout_ms=2000)
    with h.SippUAS("uas.xml", workdir=tmp_path) as c1:
        answer = h.rtjson_routes(carrier(c1, 1))
        api.handler = lambda req: (200, answer, 1.0)
        caller = h.run_sipp("uac.xml", k.port, workdir=tmp_path, service="15550001")
        seen = c1.wait(10)
    assert caller.ok, show(caller, seen, k.log_tail())
    assert [m.method for m in seen.received()] == ["INVITE", "ACK", "BYE"]


@pytest.mark.e2e
def test_cancel_while_api_is_answering_gives_487_and_no_carrier_call(edge, api, tmp_path):
    with h.SippUAS("uas.xml", workdir=tmp_path) as c1:
        answer = h.rtjson_routes(carrier(c1, 1))
        api.handler = lambda req: (200, answer, 0.7)
        caller = h.run_sipp("uac_cancel_early.xml", edge.port, workdir=tmp_path, duration_ms=200)
        time.sleep(1.0)  # the late API answer arrives after the CANCEL
        seen = c1.stop()
    assert caller.ok, show(caller, edge.log_tail())
    assert caller.final_status("INVITE") == 487
    assert caller.final_status("CANCEL") == 200
    assert len(api.requests) == 1
    assert seen.received() == [], show(seen)


@pytest.mark.e2e
def test_carrier_not_answering_fails_over_on_local_timeout(kamailio_factory, api, tmp_path):
    """No reply at all from the first carrier (nothing listens): the route's fr_timer
    expires and the next route is tried, even when 408 is not a failover code."""
    k = kamailio_factory(api_urls=[api.url], failover_codes=[503])
    dead = f"sip:127.0.0.1:{h.closed_port()}"
    with h.SippUAS("uas.xml", workdir=tmp_path) as c2:
        first = h.rtjson_route(dead, "sip:+15550001@carrier1.example", fr_timer=700)
        api.handler = routes_to(first, carrier(c2, 2))
        caller = h.run_sipp("uac.xml", k.port, workdir=tmp_path, service="15550001")
        seen = c2.wait(10)
    assert caller.ok, show(caller, seen, k.log_tail())
    inv_t = next(m.time for m in caller.messages if m.method == "INVITE")
    ring_t = next(m.time for m in caller.received() if m.status == 180)
    print(f"route fr_timer 700 ms -> second carrier rings after {(ring_t - inv_t) * 1000:.0f} ms")
    assert 0.6 <= ring_t - inv_t <= 2.0
    assert seen.received("INVITE")[0].request_uri == "sip:+15550002@carrier2.example"


@pytest.mark.e2e
def test_keepalive_options_and_refused_methods(edge, api):
    ok = h.sip_request("127.0.0.1", edge.port, "OPTIONS")
    assert ok is not None and (ok.status, ok.reason) == (200, "Keepalive")
    for method in ("MESSAGE", "REGISTER", "SUBSCRIBE"):
        resp = h.sip_request("127.0.0.1", edge.port, method, ruri=f"sip:bob@127.0.0.1:{edge.port}")
        assert resp is not None and resp.status == 405, (method, resp)
        assert "INVITE" in resp.header("Allow")
    # OPTIONS to someone else is not ours to answer for, nor routed: refused too
    other = h.sip_request("127.0.0.1", edge.port, "OPTIONS", ruri="sip:bob@example.com")
    assert other is not None and other.status == 405
    assert api.requests == []  # none of this reached the routing API


# ------------------------------------------------------------------ overload


def test_calls_beyond_the_bound_waiting_for_the_api_are_refused_at_once(
    api, kamailio_factory, tmp_path
):
    # c4router slow (answers after 0.8 s, under the API timeout): 2 calls may wait for it,
    # the 3 others are refused at once with 503 Overloaded; once the answers came, calls are
    # taken again.
    edge = kamailio_factory(api_urls=[api.url], overload_api_queries=2)
    api.reset(lambda req: (200, h.rtjson_refusal(486, "Busy Here"), 0.8))
    results: dict[int, h.SippResult] = {}

    def place(index: int) -> None:
        results[index] = h.run_sipp(
            "uac_expect_fail.xml", edge.port, workdir=tmp_path / f"caller{index}", timeout_s=20,
            tag=f"uac{index}",
        )  # fmt: skip

    threads = [threading.Thread(target=place, args=(i,)) for i in range(5)]
    for thread in threads:
        thread.start()
        time.sleep(0.05)  # in order: the first two are the ones that wait
    for thread in threads:
        thread.join()
    finals = sorted(
        (r.final_status(), r.received()[-1].reason, r.received()[-1].header("Retry-After"))
        for r in results.values()
    )
    assert finals == [
        (486, "Busy Here", None), (486, "Busy Here", None),
        (503, "Overloaded", "5"), (503, "Overloaded", "5"), (503, "Overloaded", "5"),
    ], show(*results.values())  # fmt: skip
    assert len(api.requests) == 2  # the refused calls never reached c4router
    again = h.run_sipp("uac_expect_fail.xml", edge.port, workdir=tmp_path / "again", timeout_s=20)
    assert again.final_status() == 486, show(again)


def test_calls_are_refused_at_once_while_shared_memory_runs_low(
    api, kamailio_factory, tmp_path, monkeypatch
):
    # The bound on shared memory, made to hold at once: with "less than 100% free" as the
    # floor, Kamailio's real free memory (its $stat(free_size), read each call) is always
    # under it. Every call is refused before it takes a transaction and never reaches
    # c4router; at the real floor (20%), the same calls go on.
    from routing import kamailio_render

    monkeypatch.setattr(kamailio_render, "OVERLOAD_SHM_FREE_PERCENT", 100)
    edge = kamailio_factory(api_urls=[api.url], overload_api_queries=2)
    api.reset(lambda req: (200, h.rtjson_refusal(486, "Busy Here"), 0))
    refused = h.run_sipp("uac_expect_fail.xml", edge.port, workdir=tmp_path / "low", timeout_s=20)
    last = refused.received()[-1]
    assert (last.status, last.reason, last.header("Retry-After")) == (503, "Overloaded", "5")
    assert api.requests == []
    assert "less than 100% of shared memory free, refused" in edge.log_tail()
