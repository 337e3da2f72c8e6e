"""Carrier health on a real database: Kamailio's reports at POST /kamailio/health, what
they do to the answers, and passive demotion from the call records."""

from __future__ import annotations

from datetime import timedelta

import orjson
import pytest
from django.utils import timezone

from routing.carrier_health import ReportError, parse_report, skip_probability, update_demotions
from routing.cdr import partitions
from routing.loader import holder
from routing.models import (
    CallRecord,
    GatewayHealth,
    GatewayHealthEvent,
    HealthPolicy,
    current_routing_version,
    current_versions,
)

from .conftest import TOKEN, saved

URL = "/kamailio/health"
RTJSON = "/kamailio/rtjson"


def report(client, body, *, token=TOKEN, content_type="application/json"):
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    headers = {"HTTP_X_C4_TOKEN": token} if token else {}
    return client.post(URL, data=data, content_type=content_type, **headers)


def first_gateways(client) -> list[str]:
    body = orjson.dumps({
        "source_ip": "10.10.0.10", "call_id": "c1@test", "from_uri": "sip:0123456789@10.10.0.10",
        "to_uri": "sip:0612345678@c4router.example",
    })  # fmt: skip
    answer = client.post(RTJSON, data=body, content_type="application/json",
                         HTTP_X_C4_TOKEN=TOKEN).json()  # fmt: skip
    return [r["uri"].rsplit("@", 1)[1] for r in answer["rtjson"]["routes"]]


@pytest.fixture
def policy(routing_data):
    p = saved(HealthPolicy(name="probe alpha", probe_interval=2, down_after=2, up_after=1))
    routing_data.alpha.health_policy = p
    saved(routing_data.alpha)
    return p


def test_a_down_report_is_stored_with_its_history_and_the_answers_skip_the_gateway(
    client, routing_data, policy, live_table
):
    assert first_gateways(client) == ["203.0.113.10:5060", "192.0.2.20:5080"]
    version = current_routing_version()
    health_version = current_versions()[1]
    gw = routing_data.alpha1.pk
    response = report(client, {"gateway": gw, "state": "down", "reason": "2 probes: 408"})
    assert response.status_code == 200, response.content
    assert response.json() == {"gateway": gw, "state": "down", "changed": True}
    # Only the health version moves: the workers swap the health rows, nothing else.
    assert current_routing_version() == version
    assert current_versions()[1] == health_version + 1
    rules = holder.table.rules
    health = GatewayHealth.objects.get(gateway_id=gw)
    assert (health.state, health.reason, health.reported_by) == ("down", "2 probes: 408", "edge1")
    assert holder.refresh()
    assert holder.table.rules is rules  # the same rule index, not rebuilt
    assert first_gateways(client) == ["192.0.2.20:5080"]
    assert 'c4router_gateways_unhealthy{state="down"} 1.0' in metrics_page()
    # The same state again changes nothing; up brings it back.
    assert report(client, {"gateway": gw, "state": "down"}).json()["changed"] is False
    assert (
        report(client, {"gateway": gw, "state": "up", "reason": "1 probe: 200"}).status_code == 200
    )
    holder.refresh()
    assert first_gateways(client) == ["203.0.113.10:5060", "192.0.2.20:5080"]
    events = list(GatewayHealthEvent.objects.filter(gateway_id=gw).values_list("state", flat=True))
    assert events == ["up", "down"]
    assert 'c4router_gateways_unhealthy{state="down"} 0.0' in metrics_page()


def metrics_page() -> str:
    from routing import metrics

    return metrics.exposition()[0].decode()


def test_put_last_policy_and_probing_off_are_read_from_the_policy(
    client, routing_data, policy, live_table
):
    report(client, {"gateway": routing_data.alpha1.pk, "state": "down"})
    policy.down_policy = "last"
    saved(policy)
    holder.refresh()
    assert first_gateways(client) == ["192.0.2.20:5080", "203.0.113.10:5060"]
    policy.probing = False  # a stale state no longer counts
    saved(policy)
    holder.refresh()
    assert first_gateways(client) == ["203.0.113.10:5060", "192.0.2.20:5080"]


def test_a_gateway_without_policy_is_not_affected_by_a_report(client, routing_data, live_table):
    assert report(client, {"gateway": routing_data.beta1.pk, "state": "down"}).status_code == 200
    holder.refresh()
    assert first_gateways(client) == ["203.0.113.10:5060", "192.0.2.20:5080"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", "not JSON"),
        (b"[1]", "the body must be a JSON object"),
        ({"gateway": 1, "state": "down", "extra": 1}, "unknown key(s): extra"),
        ({"gateway": "1", "state": "down"}, "gateway must be a gateway id"),
        ({"gateway": True, "state": "down"}, "gateway must be a gateway id"),
        ({"gateway": 0, "state": "down"}, "gateway must be a gateway id"),
        ({"state": "down"}, "gateway must be a gateway id"),
        ({"gateway": 1, "state": "off"}, "state must be one of up, down"),
        ({"gateway": 1, "state": "down", "reason": 5}, "reason must be text"),
        ({"gateway": 1, "state": "down", "reason": "x" * 201}, "reason must be text"),
        ({"gateway": 1, "state": "down", "reason": "a\nb"}, "reason:"),
    ],
)
def test_a_malformed_report_is_refused_with_400_and_writes_nothing(
    client, live_table, body, message
):
    response = report(client, body)
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert not GatewayHealth.objects.exists()
    assert not GatewayHealthEvent.objects.exists()


def test_an_unknown_gateway_is_refused_with_400(client, live_table):
    response = report(client, {"gateway": 999999, "state": "down"})
    assert response.status_code == 400
    assert response.json() == {"error": "gateway 999999 does not exist"}
    assert not GatewayHealthEvent.objects.exists()


def test_a_report_needs_the_instance_token_and_json(client, routing_data, live_table):
    body = {"gateway": routing_data.alpha1.pk, "state": "down"}
    assert report(client, body, token="").status_code == 403
    assert report(client, body, token="wrong-token-0123456789").status_code == 403
    assert report(client, body, content_type="text/plain").status_code == 415
    assert not GatewayHealth.objects.exists()


def test_parse_report_accepts_the_grammar():
    assert parse_report(b'{"gateway": 3, "state": "up"}').reason == ""
    with pytest.raises(ReportError):
        parse_report(b'{"gateway": 3, "state": "up"}' + b" " * 5000)


# --- passive demotion ------------------------------------------------------------------------


def test_the_skip_probability_ramps_linearly_between_the_thresholds():
    policy = HealthPolicy(demote_min_attempts=10, demote_start=30, demote_end=80)
    assert skip_probability(9, 9, policy) == 0.0  # under the minimum attempts
    assert skip_probability(100, 30, policy) == 0.0
    assert skip_probability(100, 55, policy) == pytest.approx(0.5)
    assert skip_probability(100, 80, policy) == 1.0
    assert skip_probability(100, 100, policy) == 1.0


def attempts(gateway, codes, *, age_s=5):
    start = timezone.now() - timedelta(seconds=age_s)
    partitions.ensure_for([start])
    CallRecord.objects.bulk_create(
        CallRecord(kind="attempt", call_id=f"c{gateway.pk}-{age_s}-{i}", attempt=1,
                   start_time=start, end_time=start, gateway_id=gateway.pk,
                   carrier_id=gateway.carrier_id, sip_code=code)
        for i, code in enumerate(codes)
    )  # fmt: skip


@pytest.fixture(autouse=True)
def _partitions_forgotten():
    partitions.forget_known()  # each test's database starts without them
    yield
    partitions.forget_known()


def test_a_gateway_failing_half_its_calls_is_demoted_and_recovers_as_the_window_moves(
    client, routing_data, live_table
):
    policy = saved(
        HealthPolicy(name="demote", probing=False, demote=True, demote_window=60,
                     demote_min_attempts=10, demote_start=20, demote_end=80)
    )  # fmt: skip
    routing_data.alpha.health_policy = policy
    saved(routing_data.alpha)
    attempts(routing_data.alpha1, [503, 200] * 10)  # 50% failures
    attempts(routing_data.beta1, [503] * 20)  # no policy: never demoted
    assert update_demotions() == 1
    health = GatewayHealth.objects.get(gateway_id=routing_data.alpha1.pk)
    assert health.skip_probability == pytest.approx(0.5)
    assert (health.window_attempts, health.window_failures) == (20, 10)
    assert not GatewayHealth.objects.filter(gateway_id=routing_data.beta1.pk).exists()
    holder.refresh()
    firsts = [first_gateways(client)[0] for _ in range(200)]
    assert 0.3 < firsts.count("192.0.2.20:5080") / 200 < 0.7
    assert update_demotions() == 0  # nothing moved: no version bump
    # Two minutes later the records are out of the window: back to 0.
    assert update_demotions(now=timezone.now() + timedelta(minutes=2)) == 1
    assert GatewayHealth.objects.get(gateway_id=routing_data.alpha1.pk).skip_probability == 0.0
    holder.refresh()
    assert all(first_gateways(client)[0] == "203.0.113.10:5060" for _ in range(50))


# --- what people read ---------------------------------------------------------------------------


def test_route_command_tester_and_lists_say_down_since(
    client, admin_client, routing_data, policy, capsys
):
    from django.core.management import call_command

    from routing.carrier_health import record_state

    record_state(routing_data.alpha1.pk, "down", "OPTIONS not answered, 2 failures in a row")
    call_command("route", "--source-ip", "10.10.0.10", "--to", "sip:0612345678@x")
    out = capsys.readouterr().out
    assert "Skipped: gateway Alpha/alpha-1: down since 20" in out
    assert "(OPTIONS not answered, 2 failures in a row)" in out
    assert "Route 1: gateway Beta/beta-1" in out
    page = admin_client.get(
        "/admin/route-tester/", {"source_ip": "10.10.0.10", "to_uri": "sip:0612345678@x"}
    ).content.decode()
    assert "Skipped: gateway Alpha/alpha-1: down since 20" in page
    gateways = admin_client.get("/admin/routing/gateway/").content.decode()
    assert "down since 20" in gateways
    carriers = admin_client.get("/admin/routing/carrier/").content.decode()
    assert "1 down" in carriers
    change = admin_client.get(f"/admin/routing/gateway/{routing_data.alpha1.pk}/change/")
    assert "OPTIONS not answered, 2 failures in a row" in change.content.decode()
