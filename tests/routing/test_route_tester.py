"""manage.py route and the admin route tester explain a routing decision."""

from __future__ import annotations

import orjson
import pytest
from django.core.management import CommandError, call_command


def run_route(capsys, *args: str) -> str:
    call_command("route", *args)
    return capsys.readouterr().out


def test_route_command_prints_the_answer_and_the_reasons(routing_data, capsys):
    out = run_route(capsys, "--source-ip", "10.10.0.10", "--from", "sip:0123456789@10.10.0.10",
                    "--to", "sip:0612345678@x")  # fmt: skip
    assert "Source: 10.10.0.0/24 = PBX hq of tenant Acme (outbound call)" in out
    assert "Numbers (E.164): called 33612345678, calling 33123456789" in out
    assert "Rule: rule #" in out and "'France'" in out
    assert "Route 1: gateway Alpha/alpha-1: sip:33612345678@203.0.113.10:5060" in out
    assert "Route 2: gateway Beta/beta-1" in out
    assert "Answer: 200 OK" in out
    document = orjson.loads(out[out.index("{") :])
    assert document["rtjson"]["success"] is True


def test_route_command_json_only_and_skipped_targets(routing_data, capsys):
    routing_data.alpha1.enabled = False
    routing_data.alpha1.save()
    out = run_route(capsys, "--source-ip", "10.10.0.10", "--to", "sip:0612345678@x", "--json")
    document = orjson.loads(out)
    assert [r["dst_uri"] for r in document["rtjson"]["routes"]] == ["sip:192.0.2.20:5080"]
    out = run_route(capsys, "--source-ip", "10.10.0.10", "--to", "sip:0612345678@x")
    assert "Skipped: gateway Alpha/alpha-1: disabled" in out


def test_route_command_refusals_and_bad_input(routing_data, capsys):
    out = run_route(capsys, "--source-ip", "192.0.2.1", "--to", "sip:1@x")
    assert "Source: no trusted network matches" in out and "Answer: 403 Forbidden" in out
    with pytest.raises(CommandError, match="source_ip: not an IP address"):
        call_command("route", "--source-ip", "nope", "--to", "sip:1@x")
    with pytest.raises(CommandError, match="--at"):
        call_command("route", "--source-ip", "10.10.0.10", "--to", "sip:1@x", "--at", "tomorrow")


def test_route_command_at_a_given_time(routing_data, capsys):
    routing_data.france.weekdays = "67"  # weekends only
    routing_data.france.save()
    saturday = run_route(capsys, "--source-ip", "10.10.0.10", "--to", "sip:0612345678@x",
                         "--at", "2026-11-28T12:00+00:00")  # fmt: skip
    wednesday = run_route(capsys, "--source-ip", "10.10.0.10", "--to", "sip:0612345678@x",
                          "--at", "2026-11-25T12:00+00:00")  # fmt: skip
    assert "Answer: 200 OK" in saturday
    assert "Answer: 404 No Route" in wednesday
    # Why France did not take Wednesday's call: its window, and the time in its zone.
    assert (
        f"Skipped: rule #{routing_data.france.pk} 'France' (prefix '33', global): its time "
        "window (days 67 UTC) is closed at Wednesday 12:00 local time"
    ) in wednesday
    assert "its time window" not in saturday


def test_route_command_shows_a_rule_that_rejects(routing_data, capsys):
    from routing.models import RouteRule

    RouteRule.objects.create(
        name="Premium",
        prefix="3389",
        action="reject",
        reject_code=403,
        reject_reason="Premium Numbers Blocked",
    )
    out = run_route(capsys, "--source-ip", "10.10.0.10", "--to", "sip:0899123456@x")
    assert "Rule: rule #" in out and "'Premium'" in out
    assert "Action: reject with 403 Premium Numbers Blocked" in out
    assert "Answer: 403 Premium Numbers Blocked" in out
    document = orjson.loads(out[out.index("{") :])
    assert (document["rtjson"]["success"], document["rtjson"]["code"]) == (False, 403)
    assert document["rtjson"]["reason"] == "Premium Numbers Blocked"


def test_admin_route_tester_page(admin_client, routing_data):
    index = admin_client.get("/admin/")
    assert b"Route tester" in index.content
    page = admin_client.get("/admin/route-tester/")
    assert page.status_code == 200 and b"Route this call" in page.content
    result = admin_client.get(
        "/admin/route-tester/",
        {"source_ip": "10.10.0.10", "from_uri": "sip:0123456789@x", "to_uri": "sip:0612345678@x"},
    )
    text = result.content.decode()
    assert "Answer: 200 OK" in text
    assert "gateway Alpha/alpha-1" in text
    assert "&quot;dst_uri&quot;: &quot;sip:203.0.113.10:5060&quot;" in text


def test_admin_route_tester_shows_field_errors(admin_client, routing_data):
    result = admin_client.get(
        "/admin/route-tester/", {"source_ip": "10.10.0.10", "to_uri": "http://nope"}
    )
    assert "not a sip:, sips: or tel: URI" in result.content.decode()
    bad_at = admin_client.get(
        "/admin/route-tester/", {"source_ip": "10.10.0.10", "to_uri": "sip:1@x", "at": "monday"}
    )
    assert "Enter the date and time as YYYY-MM-DD HH:MM" in bad_at.content.decode()
    typed = admin_client.get(
        "/admin/route-tester/",
        {"source_ip": "10.10.0.10", "to_uri": "sip:0612345678@x", "at": "2026-11-28 10:30"},
    )
    assert "time 2026-11-28T10:30:00+00:00" in typed.content.decode()
    bad_ip = admin_client.get("/admin/route-tester/", {"source_ip": "x", "to_uri": "sip:1@x"})
    assert "is not an IPv4 or IPv6 address" in bad_ip.content.decode()


def test_admin_route_tester_needs_a_staff_login(client, db):
    response = client.get("/admin/route-tester/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_route_command_and_tester_show_the_limits_of_the_call_and_of_each_route(
    admin_client, routing_data, capsys
):
    routing_data.tenant.max_calls = 20
    routing_data.tenant.save()
    routing_data.pbx.max_cps = 10
    routing_data.pbx.save()
    routing_data.alpha.max_calls = 100
    routing_data.alpha.save()
    routing_data.beta1.max_cps = 5
    routing_data.beta1.save()
    out = run_route(capsys, "--source-ip", "10.10.0.10", "--to", "sip:0612345678@x")
    assert "Limits of the call: tenant Acme at most 20 calls; PBX hq 10 calls/s" in out
    assert "  limits: carrier Alpha at most 100 calls" in out
    assert "  limits: gateway beta-1 5 calls/s" in out
    document = orjson.loads(out[out.index("{") :])
    assert document["rtjson"]["limits"] == (
        f"t{routing_data.tenant.pk}:20:- p{routing_data.pbx.pk}:-:10"
    )
    page = admin_client.get(
        "/admin/route-tester/", {"source_ip": "10.10.0.10", "to_uri": "sip:0612345678@x"}
    )
    assert "Limits of the call: tenant Acme at most 20 calls; PBX hq 10 calls/s" in (
        page.content.decode()
    )
