"""PostgreSQL stopped while calls flow: routing keeps answering from the last table, /readyz
says "degraded", and everything recovers by itself when the database returns.

The suite's private PostgreSQL cluster (its own data directory and port: the shared server
is never touched; migrated with `manage.py migrate`) holds the test's database; the admin
enters the routing data through the REST API of the real c4router (uvicorn) running on it,
and a real Kamailio rendered from the RouterInstance row sends every call of a SIPp caller
to it. Mid-run the cluster is stopped with `pg_ctl stop -m fast`, then started again.
"""

from __future__ import annotations

import time

import harness as h
import pytest

from tests.live import C4RouterServer

from .conftest import (
    FRANCE,
    admin_api,
    first_hop,
    make_world,
    readyz,
    sipp_counts,
    wait_for,
)

pytestmark = pytest.mark.faults

RATE = 20  # calls/s: modest, the point is the outage, not the load
CALLS = 160  # 8 s of calls
STOP_AT = 2.0  # s after the first call
OUTAGE = 3.0  # s without PostgreSQL, calls flowing all along


def test_postgres_stopped_while_calls_flow(
    private_postgres, database_url, start_edge, carriers, call_load, tmp_path
):
    pg = private_postgres
    with C4RouterServer(tmp_path, database_url=database_url) as server, admin_api(server) as api:
        world = make_world(api, [f"{server.url}/kamailio/rtjson"])
        alpha_uri = f"sip:127.0.0.1:{world.alpha_port}"
        beta_uri = f"sip:127.0.0.1:{world.beta_port}"
        wait_for(lambda: first_hop(server) == alpha_uri, 5, "the server routes to Alpha")
        assert readyz(server)[1]["status"] == "ok"
        edge = start_edge(world, database_url)
        alpha = carriers(world.alpha_port, "alpha", calls=CALLS)
        beta = carriers(world.beta_port, "beta", calls=1)

        load = call_load(edge, RATE, CALLS)
        load.sleep_until(STOP_AT)
        pg.stop("fast")
        stopped_at, stopped_wall = time.monotonic(), time.time()

        # During the outage: /readyz answers 200 "degraded", database "unreachable", and never
        # anything else once it noticed; the log says so, naming the table it still serves.
        samples: list[tuple[float, int, dict]] = []
        while time.monotonic() - stopped_at < OUTAGE:
            code, document = readyz(server)
            samples.append((time.monotonic() - stopped_at, code, document))
            time.sleep(0.1)
        noticed = next((t for t, _, doc in samples if doc["status"] != "ok"), None)
        assert noticed is not None and noticed < 2.0, samples[:5]
        after = [(code, doc) for t, code, doc in samples if t >= noticed]
        assert all(code == 200 for code, _ in after), after
        assert all(doc["status"] == "degraded" for _, doc in after), after
        assert all(doc["database"] == "unreachable" for _, doc in after), after
        log = server.log_text()
        assert "routing table: database unreachable" in log and "still serving v" in log, log

        pg.start()
        restarted_at, restarted_wall = time.monotonic(), time.time()
        wait_for(lambda: readyz(server)[1]["status"] == "ok", 30, "/readyz back to ok")
        recovered_in = time.monotonic() - restarted_at
        code, document = readyz(server)
        assert (code, document["database"]) == (200, "reachable"), document
        assert "routing table: database reachable again" in server.log_text()

        result = load.wait()
        counts = sipp_counts(result)
        seen_alpha = alpha.wait(15)
        assert result.ok and counts == {"created": CALLS, "successful": CALLS, "failed": 0}, (
            f"{counts}\n{result.stdout[-3000:]}\n{result.error_log[-2000:]}\n{edge.log_tail()}"
        )
        assert len(seen_alpha.received("INVITE")) == CALLS
        invites = [m for m in result.messages if m.method == "INVITE" and m.direction == "sent"]
        during = [m for m in invites if stopped_wall <= (m.time or 0) <= restarted_wall]
        assert len(during) >= OUTAGE * RATE * 0.8, "the outage did not overlap the calls"

        # A change made after the restart is followed: the admin puts Beta first; the next
        # call goes to Beta.
        response = api.patch(
            f"/route-rules/{world.france['id']}/",
            json={"targets": [{"gateway": world.beta1["id"]}, {"gateway": world.alpha1["id"]}]},
        )
        assert response.status_code == 200, response.text
        wait_for(lambda: first_hop(server) == beta_uri, 5, "the change reaches the server")
        caller = h.run_sipp(
            "uac.xml", edge.port, workdir=tmp_path, service=FRANCE, timeout_s=20,
            recv_timeout_ms=10000, tag="after",
        )  # fmt: skip
        seen_beta = beta.wait(10)
        assert caller.ok, caller.describe() + edge.log_tail()
        assert [m.method for m in seen_beta.received()] == ["INVITE", "ACK", "BYE"]

    print(
        f"\nfigures: outage {restarted_at - stopped_at:.1f}s (readyz degraded after "
        f"{noticed:.2f}s, ok {recovered_in:.2f}s after the restart); calls placed "
        f"{counts['created']}, completed {counts['successful']}, failed {counts['failed']}, "
        f"{len(during)} started while PostgreSQL was down"
    )
