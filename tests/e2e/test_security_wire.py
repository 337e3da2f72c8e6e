"""Issue 11, item 1 on the wire: the real c4router (ASGI, PostgreSQL), a real Kamailio whose
config `manage.py render_kamailio_config` rendered, SIPp carriers and a SIPp caller.

A carrier row whose From domain is a scoped IPv6 address carrying a header line was
written around validation (QuerySet.update: what raw SQL or a row older than the validators
gives). Before the fix the carrier received the INVITE with an injected `X-Injected: yes`
header line; now the carrier is kept out of the answers and the call fails over to the next
one, which receives a clean INVITE. And a routing query whose source_ip carries a scope id
and a line break gets a 400, with no forged line in c4router's log.

Same world and fixtures as test_kamailio_c4router.py (imported from it): needs
`bin/install-kamailio` and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import orjson
import pytest
from test_kamailio_c4router import (  # the fixtures and helpers of the main e2e suite
    TOKEN,
    World,
    call,
    carrier,
    make_world,
    methods,
    show,
    start_edge,
)

from routing.models import Carrier
from tests.live import C4RouterServer

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
__all__ = ["start_edge"]  # a fixture: used by name

HOSTILE_FROM_DOMAIN = "fe80::1%x\r\nX-Injected: yes"
FORGED_SOURCE = "fe80::1%x\nWARNING c4router.routing forged: admin logged in from 6.6.6.6"


@pytest.fixture
def server(tmp_path) -> Iterator[C4RouterServer]:
    """c4router logging every routing decision (ROUTING_LOG_LEVEL=DEBUG): a forged line, if
    any, would be in its log."""
    srv = C4RouterServer(tmp_path, env={"ROUTING_LOG_LEVEL": "DEBUG"})
    yield srv
    srv.stop()


@pytest.fixture
def hostile_world(server: C4RouterServer) -> World:
    """The main suite's world, Alpha's row then written around validation, before c4router
    starts (its first table is built from it)."""
    data = make_world(f"{server.url}/kamailio/rtjson")
    Carrier.objects.filter(pk=data.alpha.pk).update(from_domain=HOSTILE_FROM_DOMAIN)
    server.start()
    return data


def test_f01_a_hostile_from_domain_never_reaches_the_carriers_wire(
    hostile_world: World, start_edge, tmp_path
) -> None:
    edge = start_edge(hostile_world.instance)
    with (
        carrier("uas.xml", hostile_world.alpha_port, tmp_path, "alpha") as alpha,
        carrier("uas.xml", hostile_world.beta_port, tmp_path, "beta") as beta,
    ):
        caller = call(edge, tmp_path)
        seen_beta = beta.wait(10)
        seen_alpha = alpha.stop()
    everything = "".join(m.raw for m in [*seen_alpha.messages, *seen_beta.messages])
    assert "X-Injected" not in everything, show(seen_alpha, seen_beta)
    # Alpha is out of the answers until its row is fixed: the France rule's next target,
    # Beta, takes the call, and it connects.
    assert seen_alpha.received() == [], show(seen_alpha)
    assert caller.ok, show(caller, seen_beta, edge.log_tail())
    assert methods(seen_beta) == ["INVITE", "ACK", "BYE"]
    invite = seen_beta.received("INVITE")[0]
    assert invite.header("X-Injected") is None
    assert invite.header("From").startswith('"C4 Outbound" <sip:0100000000@beta.example>;tag=')


def test_f01_a_scoped_source_ip_gets_a_400_and_forges_no_log_line(
    hostile_world: World, server: C4RouterServer
) -> None:
    query = {
        "event": "sip-routing", "source_ip": FORGED_SOURCE, "source_port": 5060,
        "call_id": "e2e-forge", "from_uri": "sip:alice@127.0.0.1",
        "to_uri": "sip:33612345678@127.0.0.1", "to_tag": "<null>",
    }  # fmt: skip
    response = httpx.post(
        f"{server.url}/kamailio/rtjson", content=orjson.dumps(query), timeout=5.0,
        headers={"Content-Type": "application/json", "X-C4-Token": TOKEN},
    )  # fmt: skip
    assert response.status_code == 400, response.text
    assert response.json() == {"error": "source_ip: not an IP address"}
    log = server.log_text()
    assert "bad routing query from 127.0.0.1: source_ip: not an IP address" in log, log[-3000:]
    assert not [line for line in log.splitlines() if "forged" in line], log[-3000:]
