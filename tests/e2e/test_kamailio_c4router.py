"""The product on the wire: the real c4router (ASGI, PostgreSQL), a real Kamailio whose config
`manage.py render_kamailio_config` rendered from a RouterInstance row, SIPp carriers and a
SIPp caller, all on 127.0.0.1.

The routing data is what an admin would enter (models + full_clean; the rule change goes
through the REST API of the running server):
- Acme's PBX "hq" calls from 127.0.0.1 (an IpSource 127.0.0.1/32), so every call from the
  SIPp caller is an outbound call;
- the "France" rule (prefix 33) sends it to Alpha's gateway, then Beta's; it presents
  33100000000 as the caller with the display name "C4 Outbound" and adds "X-C4-Rule";
- Alpha and Beta are SIPp carriers on their own ports; Beta's gateway translates the number
  to the national format (strip 2 digits, prefix 0), Beta's normalization rule does the
  same for the caller, and Beta has its own From domain and extra header;
- for the inbound test, the admin turns 127.0.0.1 into Alpha's network and gives the PBX a
  DID: the SIPp caller then plays the carrier, a SIPp UAS the PBX.

Needs `bin/install-kamailio` and PostgreSQL (skipped without Kamailio, failing instead
under C4ROUTER_REQUIRE_E2E=1). Every SIPp run is bounded (-m 1, -timeout, `timeout`), every
process is stopped by the fixture or context manager that started it.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from io import StringIO
from pathlib import Path

import harness as h
import httpx
import orjson
import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from rest_framework.authtoken.models import Token

from routing.models import (
    Carrier,
    Did,
    Gateway,
    IpSource,
    LnpRule,
    NormalizationRule,
    NumberList,
    NumberListEntry,
    Pbx,
    PortedNumber,
    RouterInstance,
    RouteRule,
    RouteTarget,
    Tenant,
)
from tests.live import C4RouterServer

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

TOKEN = "e2e-edge1-token-0123456789abcdef"
API_TIMEOUT_MS = 1000
FRANCE = "33612345678"  # dialled by the caller: E.164, matches the France rule
NATIONAL = "0612345678"  # the same number as Beta's gateway wants it
PRESENTED = "33100000000"  # the France rule's caller_id


def saved(obj):  # type: ignore[no-untyped-def]
    obj.full_clean()
    obj.save()
    return obj


@dataclass
class World:
    instance: RouterInstance
    source: IpSource
    pbx: Pbx
    alpha: Carrier
    france: RouteRule
    alpha1: Gateway
    beta1: Gateway

    @property
    def alpha_port(self) -> int:
        return self.alpha1.port

    @property
    def beta_port(self) -> int:
        return self.beta1.port


def make_world(api_url: str) -> World:
    tenant = saved(Tenant(name="Acme"))
    pbx = saved(Pbx(tenant=tenant, name="hq", host="127.0.0.1"))
    source = saved(IpSource(cidr="127.0.0.1/32", pbx=pbx, description="the SIPp caller"))
    alpha = saved(Carrier(name="Alpha", extra_headers="X-Trunk: alpha"))
    beta = saved(Carrier(name="Beta", from_domain="beta.example", extra_headers="X-Account: b-42"))
    saved(
        NormalizationRule(
            carrier=beta, direction="out", applies_to="caller", kind="prefix",
            match_prefix="33", strip=2, add_prefix="0",
            example_input=PRESENTED, example_output="0100000000",
        )
    )  # fmt: skip
    alpha1 = saved(Gateway(carrier=alpha, name="alpha-1", host="127.0.0.1", port=h.free_port()))
    beta1 = saved(
        Gateway(carrier=beta, name="beta-1", host="127.0.0.1", port=h.free_port(), strip=2,
                prefix="0")
    )  # fmt: skip
    france = saved(
        RouteRule(name="France", prefix="33", caller_id=PRESENTED, from_display="C4 Outbound",
                  extra_headers="X-C4-Rule: france")
    )  # fmt: skip
    saved(RouteTarget(rule=france, gateway=alpha1, order=0))
    saved(RouteTarget(rule=france, gateway=beta1, order=1))
    instance = saved(
        RouterInstance(
            name="edge1", listen_ip="127.0.0.1", listen_port=h.free_port(), api_urls=api_url,
            api_timeout_ms=API_TIMEOUT_MS, http_workers=2, children=2, fr_timer=2000,
            fr_inv_timer=30000, failover_codes="408,500,502,503,504", token=TOKEN,
        )
    )  # fmt: skip
    return World(instance, source, pbx, alpha, france, alpha1, beta1)


# ------------------------------------------------------------------ fixtures


@pytest.fixture
def server(tmp_path) -> Iterator[C4RouterServer]:
    """The real c4router under uvicorn (ASGI) on the test's PostgreSQL database; started
    by `world` once the data is in (the instance's api_urls must name its port)."""
    srv = C4RouterServer(tmp_path)
    yield srv
    srv.stop()


@pytest.fixture
def world(server) -> World:
    data = make_world(f"{server.url}/kamailio/rtjson")
    server.start()
    return data


@pytest.fixture
def start_edge(tmp_path) -> Iterator:
    """Render an instance's config with the command, as an operator does, and run it."""
    started: list[h.KamailioProcess] = []

    def start(instance: RouterInstance) -> h.KamailioProcess:
        req = h.requirements()
        out = StringIO()
        call_command(
            "render_kamailio_config", "--instance", instance.name,
            "--output-dir", str(tmp_path / "etc"), "--force",
            "--http-async-client", req.http_async_client, "--module-path", req.module_dir,
            stdout=out,
        )  # fmt: skip
        cfg = tmp_path / "etc" / f"{instance.name}.cfg"
        assert out.getvalue() == f"wrote {cfg}\n"
        edge = h.KamailioProcess(
            cfg.read_text(),
            instance.listen_port,
            tmp_path / f"kamailio-{len(started)}",
            host=instance.listen_ip,
        )
        started.append(edge)
        return edge.start()

    yield start
    for edge in started:
        edge.stop()


@pytest.fixture
def edge(world, start_edge) -> h.KamailioProcess:
    return start_edge(world.instance)


def carrier(scenario: str, port: int, workdir: Path, tag: str) -> h.SippUAS:
    return h.SippUAS(scenario, workdir=workdir, port=port, timeout_s=20, tag=tag)


def call(edge: h.KamailioProcess, workdir: Path, number: str = FRANCE, **kw) -> h.SippResult:
    kw.setdefault("scenario", "uac.xml")
    return h.run_sipp(
        kw.pop("scenario"), edge.port, workdir=workdir, service=number, timeout_s=20,
        recv_timeout_ms=10000, **kw,
    )  # fmt: skip


def show(*things) -> str:
    return "\n".join(t.describe() if hasattr(t, "describe") else str(t) for t in things)


def methods(seen: h.SippResult) -> list[str | None]:
    return [m.method for m in seen.received()]


def statuses(result: h.SippResult) -> list[int | None]:
    return [m.status for m in result.received() if not m.is_request]


def final(result: h.SippResult) -> tuple[int | None, str | None]:
    last = [m for m in result.received() if m.status and m.status >= 200][-1]
    return last.status, last.reason


def routing_answer(server: C4RouterServer, number: str = FRANCE) -> dict:
    """What the live API answers for a call from the SIPp caller (as Kamailio asks it)."""
    query = {
        "event": "sip-routing", "source_ip": "127.0.0.1", "source_port": 5060,
        "call_id": "e2e-probe", "from_uri": "sip:alice@127.0.0.1", "to_uri":
        f"sip:{number}@127.0.0.1", "to_tag": "<null>",
    }  # fmt: skip
    response = httpx.post(
        f"{server.url}/kamailio/rtjson", content=orjson.dumps(query), timeout=2.0,
        headers={"Content-Type": "application/json", "X-C4-Token": TOKEN},
    )  # fmt: skip
    assert response.status_code == 200, response.text
    return response.json()["rtjson"]


def wait_for_answer(
    server: C4RouterServer, predicate, number: str = FRANCE, timeout: float = 5.0
) -> dict:
    """The server reloads its table within its reload interval: wait until it answers the
    changed way, so that the next call meets the change (bounded)."""
    deadline = time.monotonic() + timeout
    while True:
        answer = routing_answer(server, number)
        if predicate(answer):
            return answer
        assert time.monotonic() < deadline, f"the API still answers {answer}"
        time.sleep(0.05)


class SilentHTTPServer:
    """Accepts TCP connections, reads what arrives and never answers: an API slower than any
    timeout. (A real c4router cannot be made slow on purpose; this stands in for one whose
    worker or database hangs.)"""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.received = b""
        self.connections: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/kamailio/rtjson"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                pass
            else:
                conn.settimeout(0.1)
                self.connections.append(conn)
            for conn in self.connections:
                with contextlib.suppress(TimeoutError, OSError):
                    self.received += conn.recv(65536)

    def __enter__(self) -> SilentHTTPServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for conn in self.connections:
            conn.close()
        self.sock.close()


# ------------------------------------------------------------------ calls that connect


def test_call_routed_to_the_first_carrier_completes(world, edge, tmp_path):
    with (
        carrier("uas.xml", world.alpha_port, tmp_path, "alpha") as alpha,
        carrier("uas.xml", world.beta_port, tmp_path, "beta") as beta,
    ):
        caller = call(edge, tmp_path)
        seen_alpha = alpha.wait(10)
        seen_beta = beta.stop()
    assert caller.ok, show(caller, seen_alpha, edge.log_tail())

    # The caller: rang, was answered, hung up, with its own From/To (uac restores them).
    assert 180 in statuses(caller) and 200 in statuses(caller)
    ok = next(m for m in caller.received() if m.status == 200 and m.cseq_method == "INVITE")
    assert "sip:alice@127.0.0.1" in ok.header("From") and '"Bob"' in ok.header("To")
    assert caller.final_status("BYE") == 200

    # Alpha: the whole dialog, with what the France rule and Alpha's settings add.
    assert seen_alpha.ok, show(seen_alpha)
    assert methods(seen_alpha) == ["INVITE", "ACK", "BYE"]
    invite = seen_alpha.received("INVITE")[0]
    assert invite.request_uri == f"sip:{FRANCE}@127.0.0.1:{world.alpha_port}"
    assert invite.header("From").startswith(f'"C4 Outbound" <sip:{PRESENTED}@127.0.0.1>;tag=')
    assert invite.header("To") == f'"Bob" <sip:{FRANCE}@127.0.0.1>'
    assert invite.header("X-C4-Rule") == "france"
    assert invite.header("X-Trunk") == "alpha"
    assert invite.header("Record-Route")
    # Beta was never asked.
    assert seen_beta.received() == [], show(seen_beta)


def test_503_fails_over_to_the_second_carrier_with_its_translation(world, edge, tmp_path):
    with (
        carrier("uas_503.xml", world.alpha_port, tmp_path, "alpha") as alpha,
        carrier("uas.xml", world.beta_port, tmp_path, "beta") as beta,
    ):
        caller = call(edge, tmp_path)
        seen_alpha, seen_beta = alpha.wait(10), beta.wait(10)
    assert caller.ok, show(caller, seen_alpha, seen_beta, edge.log_tail())

    # The caller never hears of the 503: it rings and connects through Beta.
    assert 503 not in statuses(caller)
    assert caller.final_status("INVITE") == 200 and caller.final_status("BYE") == 200

    assert methods(seen_alpha) == ["INVITE", "ACK"]
    assert seen_alpha.received("INVITE")[0].request_uri == (
        f"sip:{FRANCE}@127.0.0.1:{world.alpha_port}"
    )

    # Beta: the national number (gateway strip 2 + prefix 0), the caller as Beta wants it
    # (its normalization rule, its From domain), the rule's display name and headers plus
    # Beta's own, and none of Alpha's.
    assert seen_beta.ok, show(seen_beta)
    assert methods(seen_beta) == ["INVITE", "ACK", "BYE"]
    invite = seen_beta.received("INVITE")[0]
    assert invite.request_uri == f"sip:{NATIONAL}@127.0.0.1:{world.beta_port}"
    assert invite.header("From").startswith('"C4 Outbound" <sip:0100000000@beta.example>;tag=')
    assert invite.header("To") == f'"Bob" <sip:{NATIONAL}@127.0.0.1>'
    assert invite.header("X-C4-Rule") == "france"
    assert invite.header("X-Account") == "b-42"
    assert invite.header("X-Trunk") is None
    # The in-dialog BYE reaches Beta with the identities Beta knows.
    assert "sip:0100000000@beta.example" in seen_beta.received("BYE")[0].header("From")


def test_inbound_call_from_a_carrier_reaches_the_pbx_of_the_did(world, server, edge, tmp_path):
    # The admin makes 127.0.0.1 Alpha's network and gives Acme a DID on its PBX, which
    # listens on its own port: the SIPp caller now plays the carrier, a SIPp UAS the PBX.
    did = "33123456780"
    world.pbx.port = h.free_port()
    saved(world.pbx)
    saved(Did(tenant=world.pbx.tenant, pbx=world.pbx, number=did))
    world.source.pbx, world.source.carrier = None, world.alpha
    saved(world.source)
    pbx_uri = f"sip:127.0.0.1:{world.pbx.port}"
    wait_for_answer(server, lambda a: a.get("routes", [{}])[0].get("dst_uri") == pbx_uri, did)

    with carrier("uas.xml", world.pbx.port, tmp_path, "pbx") as pbx:
        caller = call(edge, tmp_path, number=did)
        seen_pbx = pbx.wait(10)
    assert caller.ok, show(caller, seen_pbx, edge.log_tail())
    assert caller.final_status("INVITE") == 200 and caller.final_status("BYE") == 200
    assert seen_pbx.ok, show(seen_pbx)
    assert methods(seen_pbx) == ["INVITE", "ACK", "BYE"]
    invite = seen_pbx.received("INVITE")[0]
    assert invite.request_uri == f"sip:{did}@127.0.0.1:{world.pbx.port}"
    assert invite.header("From").startswith('"Alice" <sip:alice@127.0.0.1>;tag=')
    assert invite.header("X-Trunk") is None and invite.header("X-C4-Rule") is None


# ------------------------------------------------------------------ calls that fail


def test_486_is_the_callers_answer_without_a_second_attempt(world, edge, tmp_path):
    with (
        carrier("uas_486.xml", world.alpha_port, tmp_path, "alpha") as alpha,
        carrier("uas.xml", world.beta_port, tmp_path, "beta") as beta,
    ):
        caller = call(edge, tmp_path, scenario="uac_expect_fail.xml")
        seen_alpha = alpha.wait(10)
        time.sleep(0.3)  # a (wrong) second attempt would reach Beta by now
        seen_beta = beta.stop()
    assert caller.ok, show(caller, seen_alpha, edge.log_tail())
    assert final(caller) == (486, "Busy Here")
    assert methods(seen_alpha) == ["INVITE", "ACK"]
    assert seen_beta.received() == [], show(seen_beta)


def test_cancel_while_ringing_gives_487_and_no_failover(world, edge, tmp_path):
    with (
        carrier("uas_ring.xml", world.alpha_port, tmp_path, "alpha") as alpha,
        carrier("uas.xml", world.beta_port, tmp_path, "beta") as beta,
    ):
        caller = call(edge, tmp_path, scenario="uac_cancel.xml", duration_ms=300)
        seen_alpha = alpha.wait(10)
        time.sleep(0.3)
        seen_beta = beta.stop()
    assert caller.ok, show(caller, seen_alpha, edge.log_tail())
    assert caller.final_status("INVITE") == 487
    assert caller.final_status("CANCEL") == 200
    assert seen_alpha.ok, show(seen_alpha)
    assert methods(seen_alpha) == ["INVITE", "CANCEL", "ACK"]
    assert seen_beta.received() == [], show(seen_beta)


def test_no_route_gives_the_apis_404(world, edge, tmp_path):
    with carrier("uas.xml", world.alpha_port, tmp_path, "alpha") as alpha:
        caller = call(edge, tmp_path, number="4930123456", scenario="uac_expect_fail.xml")
        seen_alpha = alpha.stop()
    assert caller.ok, show(caller, edge.log_tail())
    assert final(caller) == (404, "No Route")
    assert seen_alpha.received() == [], show(seen_alpha)


def test_a_blocked_destination_gets_the_lists_code_and_reason(world, server, edge, tmp_path):
    # The operator blocks the number in a global list with a code and reason of their own.
    fraud = saved(NumberList(name="Fraud", code=603, reason="Number barred by policy"))
    saved(NumberListEntry(number_list=fraud, number=FRANCE[:6], match="prefix",
                          comment="fraud wave"))  # fmt: skip
    wait_for_answer(server, lambda answer: answer.get("code") == 603)
    with carrier("uas.xml", world.alpha_port, tmp_path, "alpha") as alpha:
        caller = call(edge, tmp_path, scenario="uac_expect_fail.xml")
        seen_alpha = alpha.stop()
    assert caller.ok, show(caller, edge.log_tail())
    assert final(caller) == (603, "Number barred by policy")
    assert seen_alpha.received() == [], show(seen_alpha)


def test_a_carriers_list_sends_the_call_to_the_next_carrier(world, server, edge, tmp_path):
    alpha_refuses = saved(NumberList(name="Alpha refuses", carrier=world.alpha))
    saved(NumberListEntry(number_list=alpha_refuses, number=FRANCE))
    beta_uri = f"sip:127.0.0.1:{world.beta_port}"
    wait_for_answer(server, lambda answer: answer["routes"][0]["dst_uri"] == beta_uri)
    with (
        carrier("uas.xml", world.alpha_port, tmp_path, "alpha") as alpha,
        carrier("uas.xml", world.beta_port, tmp_path, "beta") as beta,
    ):
        caller = call(edge, tmp_path)
        seen_beta = beta.wait(10)
        seen_alpha = alpha.stop()
    assert caller.ok, show(caller, seen_beta, edge.log_tail())
    assert methods(seen_beta) == ["INVITE", "ACK", "BYE"]
    assert seen_alpha.received() == [], show(seen_alpha)


def test_a_ported_number_goes_to_its_lrns_carrier_with_rn_and_npdi(world, server, edge, tmp_path):
    # FRANCE is ported: its LRN routes to Beta only, which wants the routing number (RFC 4694).
    lrn_rule = saved(RouteRule(name="Mobile LRN", prefix="337"))
    saved(RouteTarget(rule=lrn_rule, gateway=world.beta1, order=0))
    beta = Carrier.objects.get(name="Beta")
    beta.send_rn = True
    saved(beta)
    saved(LnpRule(prefix="33"))
    saved(PortedNumber(number=FRANCE, lrn="33700000001"))
    wait_for_answer(server, lambda answer: "npdi" in answer["routes"][0]["uri"])
    with (
        carrier("uas.xml", world.alpha_port, tmp_path, "alpha") as alpha,
        carrier("uas.xml", world.beta_port, tmp_path, "beta") as beta_uas,
    ):
        caller = call(edge, tmp_path)
        seen_beta = beta_uas.wait(10)
        seen_alpha = alpha.stop()
    assert caller.ok, show(caller, seen_beta, edge.log_tail())
    invite = next(m for m in seen_beta.received() if m.method == "INVITE")
    # The dialled number as Beta wants it (strip 2, prefix 0), then npdi and the global rn.
    assert invite.request_uri == (
        f"sip:{NATIONAL};npdi;rn=+33700000001@127.0.0.1:{world.beta_port};user=phone"
    ), show(seen_beta)
    assert seen_alpha.received() == [], show(seen_alpha)


def test_an_incoming_npdi_and_rn_route_the_call_and_reach_the_carrier_once(
    world, server, edge, tmp_path
):
    # The caller's Request-URI says the lookup was done upstream (RFC 4694): rn=337...
    # routes to Beta only. Our own database says otherwise (a LRN on France's rule, Alpha
    # first): an npdi call is not looked up again. Beta does not ask for the rn, but
    # RFC 4694's npdi and rn go on as they came, once.
    lrn_rule = saved(RouteRule(name="Mobile LRN", prefix="337"))
    saved(RouteTarget(rule=lrn_rule, gateway=world.beta1, order=0))
    saved(LnpRule(prefix="33"))
    saved(PortedNumber(number=FRANCE, lrn="33100000009"))
    wait_for_answer(server, lambda answer: answer["c4"].get("lrn") == "33100000009")
    with (
        carrier("uas.xml", world.alpha_port, tmp_path, "alpha") as alpha,
        carrier("uas.xml", world.beta_port, tmp_path, "beta") as beta_uas,
    ):
        caller = call(edge, tmp_path, scenario="uac_npdi.xml", extra=["-key", "rn", "+33700000001"])
        seen_beta = beta_uas.wait(10)
        seen_alpha = alpha.stop()
    assert caller.ok, show(caller, seen_beta, edge.log_tail())
    invite = next(m for m in seen_beta.received() if m.method == "INVITE")
    assert invite.request_uri == (
        f"sip:{NATIONAL};npdi;rn=+33700000001@127.0.0.1:{world.beta_port};user=phone"
    ), show(seen_beta)
    assert seen_alpha.received() == [], show(seen_alpha)


def test_a_rule_that_rejects_gives_its_code_and_reason(world, server, edge, tmp_path):
    # The operator blocks German numbers with a code and reason of their choosing (item 5);
    # the server reloads the change with a generous bound (a loaded machine).
    saved(
        RouteRule(name="No Germany", prefix="49", action="reject", reject_code=403,
                  reject_reason="Destination Blocked")
    )  # fmt: skip
    wait_for_answer(
        server, lambda answer: answer.get("code") == 403, number="4930123456", timeout=30
    )
    with carrier("uas.xml", world.alpha_port, tmp_path, "alpha") as alpha:
        caller = call(edge, tmp_path, number="4930123456", scenario="uac_expect_fail.xml")
        seen_alpha = alpha.stop()
    assert caller.ok, show(caller, edge.log_tail())
    assert final(caller) == (403, "Destination Blocked")
    assert seen_alpha.received() == [], show(seen_alpha)


def test_unknown_source_gives_403(world, server, edge, tmp_path):
    # The admin deletes the PBX's network: the caller is nobody c4router knows.
    world.source.delete()
    wait_for_answer(server, lambda answer: answer.get("code") == 403)
    with carrier("uas.xml", world.alpha_port, tmp_path, "alpha") as alpha:
        caller = call(edge, tmp_path, scenario="uac_expect_fail.xml")
        seen_alpha = alpha.stop()
    assert caller.ok, show(caller, edge.log_tail())
    assert final(caller) == (403, "Forbidden")
    assert seen_alpha.received() == [], show(seen_alpha)


def test_api_down_gives_500(world, server, edge, tmp_path):
    server.stop()
    with carrier("uas.xml", world.alpha_port, tmp_path, "alpha") as alpha:
        caller = call(edge, tmp_path, scenario="uac_expect_fail.xml")
        seen_alpha = alpha.stop()
    assert caller.ok, show(caller, edge.log_tail())
    assert final(caller) == (500, "API Not Available")
    assert seen_alpha.received() == [], show(seen_alpha)


def test_api_slower_than_the_timeout_gives_500_within_it(start_edge, tmp_path):
    # No c4router here: the instance points at an API that never answers.
    with SilentHTTPServer() as silent:
        world = make_world(silent.url)
        edge = start_edge(world.instance)
        with carrier("uas.xml", world.alpha_port, tmp_path, "alpha") as alpha:
            caller = call(edge, tmp_path, scenario="uac_expect_fail.xml")
            seen_alpha = alpha.stop()
        query = silent.received
    assert caller.ok, show(caller, edge.log_tail())
    assert final(caller) == (500, "API Not Available")
    # Kamailio did ask (with the instance's token) and gave up after api_timeout_ms.
    assert b"POST /kamailio/rtjson" in query and f"X-C4-Token: {TOKEN}".encode() in query
    invite_at = next(m.time for m in caller.messages if m.method == "INVITE")
    refused_at = next(m.time for m in caller.received() if m.status == 500)
    waited = refused_at - invite_at
    assert API_TIMEOUT_MS / 1000 * 0.8 <= waited <= API_TIMEOUT_MS / 1000 + 1.5, waited
    assert seen_alpha.received() == [], show(seen_alpha)


# ------------------------------------------------------------------ a change while running


def test_a_rule_changed_through_the_api_is_followed_by_the_next_call(world, server, edge, tmp_path):
    with carrier("uas.xml", world.alpha_port, tmp_path, "alpha-before") as alpha:
        before = call(edge, tmp_path)
        seen_before = alpha.wait(10)
    assert before.ok, show(before, seen_before, edge.log_tail())
    assert methods(seen_before) == ["INVITE", "ACK", "BYE"]

    # The operator puts Beta first, through the REST API of the running server, with the
    # API token `manage.py drf_create_token` gave them.
    get_user_model().objects.create_superuser("ops", "ops@example.com", None)
    call_command("drf_create_token", "ops", stdout=StringIO())
    token = Token.objects.get(user__username="ops").key
    with httpx.Client(base_url=server.url, timeout=5.0) as api:
        api.headers["Authorization"] = f"Token {token}"
        response = api.patch(
            f"/api/v1/route-rules/{world.france.pk}/",
            json={"targets": [{"gateway": world.beta1.pk}, {"gateway": world.alpha1.pk}]},
        )
        assert response.status_code == 200, response.text
    beta_uri = f"sip:127.0.0.1:{world.beta_port}"
    wait_for_answer(server, lambda answer: answer["routes"][0]["dst_uri"] == beta_uri)

    with (
        carrier("uas.xml", world.alpha_port, tmp_path, "alpha-after") as alpha,
        carrier("uas.xml", world.beta_port, tmp_path, "beta-after") as beta,
    ):
        after = call(edge, tmp_path)
        seen_beta = beta.wait(10)
        seen_alpha = alpha.stop()
    assert after.ok, show(after, seen_beta, edge.log_tail())
    assert methods(seen_beta) == ["INVITE", "ACK", "BYE"]
    assert seen_beta.received("INVITE")[0].request_uri == (
        f"sip:{NATIONAL}@127.0.0.1:{world.beta_port}"
    )
    assert seen_alpha.received() == [], show(seen_alpha)
