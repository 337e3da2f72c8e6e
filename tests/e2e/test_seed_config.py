"""Issue 11 item 20 end to end: the seed's own Kamailio config, as published, with c4router.

The seed's RELAY_API sends no X-C4-Token. A Kamailio whose routing blocks are the seed's
text (tests/data/seed-kamailio-routes.cfg, verbatim) plus only what they need to run
(tests/data/seed-kamailio-main.cfg) routes SIPp calls through the real c4router (ASGI,
PostgreSQL) to a SIPp carrier when C4ROUTER_API_TOKEN_REQUIRED=0; with the default (1)
c4router refuses the query (403) and the seed's RELAY_API_RESPONSE answers the caller 500.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import harness as h
import pytest

from routing.models import Carrier, Gateway, IpSource, Pbx, RouteRule, RouteTarget, Tenant
from tests.live import C4RouterServer

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

DATA = Path(__file__).resolve().parents[1] / "data"
SEED_TEXT = Path("/work/shared/seed/000_59c0e6a07cda3ab4.txt")
NUMBER = "33612345678"
CALLS = 3


def seed_blocks(text: str) -> list[str]:
    """The route blocks of a text: from `route[`, `branch_route[` or `failure_route[` at the
    start of a line to the line that closes its braces."""
    lines = text.splitlines()
    blocks, index = [], 0
    while index < len(lines):
        if re.match(r"(route|branch_route|failure_route)\[", lines[index]):
            depth, end = 0, index
            while True:
                depth += lines[end].count("{") - lines[end].count("}")
                if depth == 0:
                    break
                end += 1
            blocks.append("\n".join(lines[index : end + 1]))
            index = end + 1
        else:
            index += 1
    return blocks


def seed_config(port: int, api_url: str) -> str:
    req = h.requirements()
    main = (DATA / "seed-kamailio-main.cfg").read_text()
    for name, value in {
        "PORT": str(port),
        "API_URL": api_url,
        "MODULE_DIR": req.module_dir,
        "HTTP_ASYNC_CLIENT": req.http_async_client,
    }.items():
        main = main.replace(f"@@{name}@@", value)
    assert not re.search(r"@@[A-Z_]+@@", main)
    return main + "\n" + (DATA / "seed-kamailio-routes.cfg").read_text()


def saved(obj):  # type: ignore[no-untyped-def]
    obj.full_clean()
    obj.save()
    return obj


def make_data() -> Gateway:
    """The SIPp caller (127.0.0.1) is Acme's PBX; numbers from 33 go to one SIPp carrier.
    No router instance: there is no token to give the seed's config."""
    tenant = saved(Tenant(name="Acme"))
    pbx = saved(Pbx(tenant=tenant, name="hq", host="127.0.0.1"))
    saved(IpSource(cidr="127.0.0.1/32", pbx=pbx))
    gateway = saved(
        Gateway(carrier=saved(Carrier(name="Alpha")), name="alpha-1", host="127.0.0.1",
                port=h.free_port())
    )  # fmt: skip
    saved(RouteTarget(rule=saved(RouteRule(name="France", prefix="33")), gateway=gateway))
    return gateway


@pytest.fixture
def seed_edge(tmp_path) -> Iterator[Callable[..., tuple[Gateway, h.KamailioProcess]]]:
    """start(**c4router_env): c4router with that environment, the seed's Kamailio on it."""
    started: list[C4RouterServer | h.KamailioProcess] = []

    def start(**env: str) -> tuple[Gateway, h.KamailioProcess]:
        gateway = make_data()
        server = C4RouterServer(tmp_path, env=env)
        started.append(server)
        server.start()
        port = h.free_port()
        edge = h.KamailioProcess(
            seed_config(port, f"{server.url}/kamailio/rtjson"), port, tmp_path / "seed"
        )
        started.append(edge)
        edge.start()
        return gateway, edge

    yield start
    for thing in reversed(started):
        thing.stop()


def show(*things) -> str:
    return "\n".join(t.describe() if hasattr(t, "describe") else str(t) for t in things)


def test_f20_the_seed_config_routes_calls_when_the_token_is_not_required(seed_edge, tmp_path):
    gateway, edge = seed_edge(C4ROUTER_API_TOKEN_REQUIRED="0")
    with h.SippUAS("uas.xml", workdir=tmp_path, port=gateway.port, calls=CALLS,
                   timeout_s=30) as carrier:  # fmt: skip
        caller = h.run_sipp(
            "uac.xml", edge.port, workdir=tmp_path, service=NUMBER, calls=CALLS, timeout_s=30,
            recv_timeout_ms=10000,
        )  # fmt: skip
        seen = carrier.wait(15)
    assert caller.ok, show(caller, seen, edge.log_tail())
    assert seen.ok, show(seen)
    # Every call: the carrier got the INVITE c4router routed (its number, the caller's
    # display quoted, From/To rewritten by rtjson), then the ACK and the BYE.
    # (SIPp starts the calls 100 ms apart: they overlap.)
    by_call: dict[str | None, list[str | None]] = {}
    for message in seen.received():
        by_call.setdefault(message.header("Call-ID"), []).append(message.method)
    assert list(by_call.values()) == [["INVITE", "ACK", "BYE"]] * CALLS, show(seen)
    for invite in seen.received("INVITE"):
        assert invite.request_uri == f"sip:{NUMBER}@127.0.0.1:{gateway.port}"
        assert invite.header("From").startswith('"Alice" <sip:alice@127.0.0.1>;tag=')
        assert invite.header("To") == f'"Bob" <sip:{NUMBER}@127.0.0.1>'
    # The caller: each call answered and hung up.
    finals = [(m.cseq_method, m.status) for m in caller.received() if m.status and m.status >= 200]
    assert sorted(finals) == [("BYE", 200)] * CALLS + [("INVITE", 200)] * CALLS, show(caller)


def test_f20_the_seed_config_gets_500_when_the_token_is_required(seed_edge, tmp_path):
    gateway, edge = seed_edge()  # the default: C4ROUTER_API_TOKEN_REQUIRED=1
    with h.SippUAS("uas.xml", workdir=tmp_path, port=gateway.port, timeout_s=20) as carrier:
        caller = h.run_sipp(
            "uac_expect_fail.xml", edge.port, workdir=tmp_path, service=NUMBER, timeout_s=20,
            recv_timeout_ms=10000,
        )  # fmt: skip
        seen = carrier.stop()
    assert caller.ok, show(caller, edge.log_tail())
    last = [m for m in caller.received() if m.status and m.status >= 200][-1]
    assert (last.status, last.reason) == (500, "API Not Available")
    assert seen.received() == [], show(seen)


def test_the_seed_routes_are_the_published_text():
    copy = (DATA / "seed-kamailio-routes.cfg").read_text()
    blocks = seed_blocks(copy)
    assert [b.split("{", 1)[0].strip() for b in blocks] == [
        "route[RELAY_API]", "route[RELAY_API_RESPONSE]", "branch_route[MANAGE_BRANCH]",
        "failure_route[MANAGE_FAILURE]",
    ]  # fmt: skip
    if SEED_TEXT.exists():  # the project's copy of the write-up, outside the repository
        assert blocks == seed_blocks(SEED_TEXT.read_text())
