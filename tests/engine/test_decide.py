"""Every rule of the routing decision, one named test each (no database)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from routing.engine.numbers import NumberPlan
from routing.engine.table import (
    CarrierRow,
    DomainRow,
    GatewayRow,
    PbxRow,
    SourceRow,
    TenantRow,
    Window,
)

from .builders import (
    CARRIER_IP,
    base_rows,
    did,
    gateway_names,
    prefix_rule,
    regex_rule,
    route,
    rule,
    table,
    to_carrier,
    to_gw,
)

FRANCE = rule(1, "33", to_gw(1))


# --- 1. the source ---------------------------------------------------------------------------


def test_unknown_source_is_refused_with_403():
    decision = route(table(rules=(FRANCE,)), source_ip="192.0.2.200")
    assert (decision.code, decision.reason) == (403, "Forbidden")
    assert "not a trusted network" in decision.why


def test_longest_matching_network_identifies_the_source():
    rows = base_rows(
        sources=(*base_rows().sources, SourceRow("10.10.0.99/32", carrier_id=1)),
        dids=(did(1, "33612345678"),),
        rules=(FRANCE,),
    )
    from .builders import build_table

    tbl = build_table(rows)
    assert route(tbl, source_ip="10.10.0.99").direction == "inbound"  # the /32: a carrier
    assert route(tbl, source_ip="10.10.0.98").direction == "outbound"  # the /24: the PBX


def test_ipv6_sources_match_by_longest_prefix():
    rows = base_rows(sources=(SourceRow("2001:db8::/32", pbx_id=1),), rules=(FRANCE,))
    from .builders import build_table

    decision = route(build_table(rows), source_ip="2001:db8::7")
    assert decision.routed
    assert decision.source is not None and decision.source.cidr == "2001:db8::/32"


def test_disabled_source_network_is_refused():
    rows = base_rows(sources=(SourceRow("10.10.0.0/24", pbx_id=1, enabled=False),), rules=(FRANCE,))
    from .builders import build_table

    decision = route(build_table(rows))
    assert decision.code == 403 and "disabled" in decision.why


def test_disabled_tenant_cannot_place_calls():
    tbl = table(tenants=(TenantRow(1, "Acme", enabled=False),), rules=(FRANCE,))
    decision = route(tbl)
    assert decision.code == 403 and "tenant is disabled" in decision.why


def test_disabled_pbx_cannot_place_calls():
    pbx = dataclasses.replace(base_rows().pbxs[0], enabled=False)
    decision = route(table(pbxs=(pbx, base_rows().pbxs[1]), rules=(FRANCE,)))
    assert decision.code == 403 and "hq is disabled" in decision.why


def test_disabled_carrier_traffic_is_refused():
    tbl = table(carriers=(CarrierRow(1, "Alpha", enabled=False), CarrierRow(2, "Beta")))
    decision = route(tbl, source_ip=CARRIER_IP, to_uri="sip:callee@domain.com")
    assert decision.code == 403 and "carrier Alpha is disabled" in decision.why


# --- 2. numbers normalized with the sender's rules -------------------------------------------


def test_pbx_national_numbers_are_normalized_to_e164():
    decision = route(table(rules=(FRANCE,)), to_uri="sip:0612345678@x", from_uri="sip:0123456789@x")
    assert (decision.callee, decision.caller) == ("33612345678", "33123456789")


def test_international_prefix_rule_has_priority_over_national():
    decision = route(table(rules=(rule(1, "44", to_gw(1)),)), to_uri="sip:00442079460000@x")
    assert decision.callee == "442079460000" and decision.routed


def test_plus_numbers_are_already_e164():
    decision = route(table(rules=(FRANCE,)), to_uri="sip:+33612345678@x")
    assert decision.callee == "33612345678"


def test_tel_uri_and_visual_separators():
    decision = route(table(rules=(FRANCE,)), to_uri="tel:+33-6-12-34-56-78")
    assert decision.callee == "33612345678"


def test_outbound_call_to_a_name_is_address_incomplete():
    decision = route(table(rules=(rule(1, "", to_gw(1)),)), to_uri="sip:alice@example.com")
    assert (decision.code, decision.reason) == (484, "Address Incomplete")


# --- 3. inbound: DID or domain -> PBX ---------------------------------------------------------


def _inbound(tbl, number: str, host: str = "c4router.example"):
    return route(
        tbl, source_ip=CARRIER_IP, to_uri=f"sip:{number}@{host}", from_uri="sip:+447700900123@x"
    )


def test_inbound_exact_did_wins_over_range_and_prefix():
    tbl = table(
        pbxs=(*base_rows().pbxs, PbxRow(3, 1, "branch", "10.10.0.20")),
        dids=(
            did(1, "3312345", "prefix", pbx_id=1),
            did(2, "33123456780", "range", "33123456789", pbx_id=1),
            did(3, "33123456785", pbx_id=3),
        ),
    )
    decision = _inbound(tbl, "+33123456785")
    assert decision.did is not None and decision.did.id == 3
    assert decision.routes[0].dst_uri == "sip:10.10.0.20:5060"


def test_inbound_range_before_prefix():
    tbl = table(
        dids=(did(1, "3312345", "prefix"), did(2, "33123456780", "range", "33123456789")),
    )
    assert _inbound(tbl, "+33123456781").did.id == 2
    assert _inbound(tbl, "+33123457000").did.id == 1  # outside the range: the prefix


def test_inbound_longest_did_prefix_wins():
    tbl = table(dids=(did(1, "33", "prefix"), did(2, "3312", "prefix")))
    assert _inbound(tbl, "+33123").did.id == 2
    assert _inbound(tbl, "+33999").did.id == 1


def test_inbound_without_did_uses_the_to_domain():
    decision = _inbound(table(), "callee", host="domain.com")
    assert decision.routed and decision.domain is not None
    assert decision.routes[0].uri == "sip:callee@10.10.0.10:5060"


def test_inbound_unknown_number_and_domain_is_404():
    decision = _inbound(table(dids=(did(1, "331", "prefix"),)), "+449999", host="other.example")
    assert (decision.code, decision.reason) == (404, "No Route")


def test_inbound_domain_without_pbx_is_404():
    decision = _inbound(table(domains=(DomainRow("domain.com", 1, None),)), "x", host="domain.com")
    assert decision.code == 404 and "has no PBX" in decision.why


def test_inbound_to_a_disabled_pbx_is_480():
    pbx = dataclasses.replace(base_rows().pbxs[0], enabled=False)
    decision = _inbound(table(pbxs=(pbx, base_rows().pbxs[1]), dids=(did(1, "33123"),)), "+33123")
    assert decision.code == 480


def test_inbound_number_is_translated_for_the_pbx():
    pbx = dataclasses.replace(
        base_rows().pbxs[0], outbound=NumberPlan.from_rules([regex_rule(r"^33(\d+)$", r"0\1")])
    )
    decision = _inbound(
        table(pbxs=(pbx, base_rows().pbxs[1]), dids=(did(1, "33123456789"),)), "+33123456789"
    )
    assert decision.routes[0].uri == "sip:0123456789@10.10.0.10:5060"
    assert decision.routes[0].to_uri == "sip:0123456789@c4router.example"


def test_carrier_national_format_is_normalized_before_the_did_lookup():
    carrier = CarrierRow(1, "Alpha", inbound=NumberPlan.from_rules([prefix_rule("0", 1, "33")]))
    tbl = table(carriers=(carrier, CarrierRow(2, "Beta")), dids=(did(1, "33123456789"),))
    assert _inbound(tbl, "0123456789").did.id == 1


# --- 4. outbound: route rules ------------------------------------------------------------------


def test_longest_destination_prefix_wins():
    tbl = table(rules=(rule(1, "33", to_gw(1)), rule(2, "336", to_gw(3)), rule(3, "", to_gw(2))))
    assert route(tbl, to_uri="sip:+33612345678@x").rule.id == 2
    assert route(tbl, to_uri="sip:+33123456789@x").rule.id == 1
    assert route(tbl, to_uri="sip:+4412345@x").rule.id == 3  # the default route


def test_caller_prefix_decides_between_rules_of_one_destination_prefix():
    tbl = table(rules=(rule(1, "33", to_gw(1)), rule(2, "33", to_gw(3), caller_prefix="331")))
    assert route(tbl, from_uri="sip:+33123@x").rule.id == 2
    assert route(tbl, from_uri="sip:+44123@x").rule.id == 1


def test_longer_destination_prefix_beats_caller_prefix():
    tbl = table(rules=(rule(1, "336", to_gw(1)), rule(2, "33", to_gw(3), caller_prefix="331")))
    assert route(tbl, from_uri="sip:+33123@x", to_uri="sip:+33612@x").rule.id == 1


def test_unmatched_caller_prefix_falls_back_to_shorter_destination_prefix():
    tbl = table(rules=(rule(1, "336", to_gw(1), caller_prefix="44"), rule(2, "33", to_gw(3))))
    assert route(tbl, from_uri="sip:+33123@x", to_uri="sip:+33612@x").rule.id == 2


def _window(days: str = "", start: time | None = None, end: time | None = None, tz: str = "UTC"):
    return Window(frozenset(int(d) for d in days), start, end, ZoneInfo(tz))


def test_open_time_window_beats_an_always_open_rule_and_closed_one_is_skipped():
    office = _window("12345", time(9), time(18), "Europe/Paris")
    tbl = table(rules=(rule(1, "33", to_gw(1)), rule(2, "33", to_gw(3), window=office)))
    wednesday_noon = datetime(2026, 11, 25, 11, 0, tzinfo=UTC)  # 12:00 in Paris
    wednesday_night = datetime(2026, 11, 25, 20, 0, tzinfo=UTC)
    saturday_noon = datetime(2026, 11, 28, 11, 0, tzinfo=UTC)
    assert route(tbl, now=wednesday_noon).rule.id == 2
    assert route(tbl, now=wednesday_night).rule.id == 1
    assert route(tbl, now=saturday_noon).rule.id == 1


def test_window_uses_its_time_zone():
    window = _window("", time(9), time(17), "America/New_York")
    tbl = table(rules=(rule(1, "33", to_gw(1)), rule(2, "33", to_gw(3), window=window)))
    assert route(tbl, now=datetime(2026, 11, 25, 15, 0, tzinfo=UTC)).rule.id == 2  # 10:00 NY
    assert route(tbl, now=datetime(2026, 11, 25, 13, 0, tzinfo=UTC)).rule.id == 1  # 08:00 NY


def test_window_across_midnight_belongs_to_the_day_it_opens():
    night = _window("5", time(22), time(6))  # Friday 22:00 -> Saturday 06:00
    tbl = table(rules=(rule(1, "33", to_gw(1)), rule(2, "33", to_gw(3), window=night)))
    assert route(tbl, now=datetime(2026, 11, 27, 23, 0, tzinfo=UTC)).rule.id == 2  # Fri 23:00
    assert route(tbl, now=datetime(2026, 11, 28, 5, 0, tzinfo=UTC)).rule.id == 2  # Sat 05:00
    assert route(tbl, now=datetime(2026, 11, 28, 23, 0, tzinfo=UTC)).rule.id == 1  # Sat 23:00
    assert route(tbl, now=datetime(2026, 11, 27, 5, 0, tzinfo=UTC)).rule.id == 1  # Fri 05:00


def test_priority_breaks_the_remaining_ties():
    tbl = table(rules=(rule(1, "33", to_gw(1), priority=50), rule(2, "33", to_gw(3), priority=10)))
    assert route(tbl).rule.id == 2


def test_tenant_rule_beats_global_rule_of_same_rank_and_other_tenants_are_ignored():
    tbl = table(
        rules=(
            rule(1, "33", to_gw(1), priority=1),
            rule(2, "33", to_gw(3), tenant_id=1, priority=50),
            rule(3, "336", to_gw(2), tenant_id=2),
        )
    )
    decision = route(tbl)
    assert decision.rule.id == 2  # Acme's own; Globex's longer prefix is not Acme's


def test_disabled_rule_is_ignored():
    tbl = table(rules=(rule(1, "33", to_gw(1), enabled=False), rule(2, "", to_gw(3))))
    assert route(tbl).rule.id == 2


def test_no_matching_rule_is_404():
    decision = route(table(rules=(rule(1, "44", to_gw(1)),)))
    assert (decision.code, decision.reason) == (404, "No Route")


# --- targets -------------------------------------------------------------------------------------


def test_targets_come_in_failover_order():
    tbl = table(rules=(rule(1, "33", to_gw(3, order=2), to_gw(1, order=0), to_gw(2, order=1)),))
    assert gateway_names(route(tbl)) == ["alpha-1", "alpha-2", "beta-1"]


def test_equal_order_targets_are_shuffled_by_weight_per_call():
    tbl = table(rules=(rule(1, "33", to_gw(1, weight=900), to_gw(3, weight=100)),))
    firsts = [gateway_names(route(tbl, seed=seed))[0] for seed in range(2000)]
    share = firsts.count("alpha-1") / len(firsts)
    assert 0.86 < share < 0.94
    assert all(len(set(gateway_names(route(tbl, seed=s)))) == 2 for s in range(20))


def test_carrier_target_expands_to_its_enabled_gateways_by_weight():
    gateways = (
        GatewayRow(1, 1, "alpha-1", "203.0.113.10", weight=1000),
        GatewayRow(2, 1, "alpha-2", "203.0.113.11", weight=1),
        GatewayRow(4, 1, "alpha-3", "203.0.113.12", enabled=False),
        GatewayRow(3, 2, "beta-1", "192.0.2.20"),
    )
    tbl = table(gateways=gateways, rules=(rule(1, "33", to_carrier(1), to_carrier(2, order=1)),))
    decision = route(tbl)
    assert sorted(gateway_names(decision)[:2]) == ["alpha-1", "alpha-2"]
    assert gateway_names(decision)[2] == "beta-1"
    firsts = [gateway_names(route(tbl, seed=s))[0] for s in range(300)]
    assert firsts.count("alpha-1") > 280


def test_disabled_gateways_and_carriers_are_skipped_with_a_reason():
    gateways = (
        GatewayRow(1, 1, "alpha-1", "203.0.113.10", enabled=False),
        *base_rows().gateways[1:],
    )
    carriers = (CarrierRow(1, "Alpha"), CarrierRow(2, "Beta", enabled=False))
    tbl = table(
        gateways=gateways,
        carriers=carriers,
        rules=(rule(1, "33", to_gw(1), to_gw(3), to_gw(2, 1)),),
    )
    decision = route(tbl)
    assert gateway_names(decision) == ["alpha-2"]
    assert any("alpha-1: disabled" in s for s in decision.skipped)
    assert any("beta-1: carrier disabled" in s for s in decision.skipped)


def test_all_targets_disabled_is_480():
    carriers = (CarrierRow(1, "Alpha", enabled=False), CarrierRow(2, "Beta"))
    decision = route(table(carriers=carriers, rules=(rule(1, "33", to_carrier(1)),)))
    assert (decision.code, decision.reason) == (480, "Temporarily Unavailable")
    assert "Alpha: disabled" in decision.why


def test_duplicate_gateways_are_listed_once():
    tbl = table(rules=(rule(1, "33", to_gw(1), to_carrier(1, order=1)),))
    assert gateway_names(route(tbl)) == ["alpha-1", "alpha-2"]


def test_route_count_is_capped():
    from routing.engine.table import Defaults

    from .builders import build_table

    rows = base_rows(rules=(rule(1, "33", to_gw(1), to_gw(2, 1), to_gw(3, 2)),))
    decision = route(build_table(rows, defaults=Defaults(max_routes=2)))
    assert gateway_names(decision) == ["alpha-1", "alpha-2"]
    assert any("over 2 routes" in s for s in decision.skipped)


# --- 5. translation per target and headers -------------------------------------------------------


def test_gateway_strip_and_prefix_apply_to_the_called_number():
    gateways = (
        GatewayRow(1, 1, "alpha-1", "203.0.113.10", strip=2, prefix="0"),
        *base_rows().gateways[1:],
    )
    decision = route(table(gateways=gateways, rules=(rule(1, "33", to_gw(1)),)))
    assert decision.routes[0].uri == "sip:0612345678@203.0.113.10:5060"
    assert decision.routes[0].to_uri == "sip:0612345678@203.0.113.10"


def test_carrier_outbound_rules_translate_per_target():
    alpha = CarrierRow(1, "Alpha", outbound=NumberPlan.from_rules([prefix_rule("", 0, "+")]))
    tbl = table(
        carriers=(alpha, CarrierRow(2, "Beta")), rules=(rule(1, "33", to_gw(1), to_gw(3, 1)),)
    )
    first, second = route(tbl).routes
    assert first.uri.startswith("sip:+33612345678@") and first.from_uri.startswith(
        "sip:+33123456789@"
    )
    assert second.uri.startswith("sip:33612345678@")


def test_tech_prefix_hash_is_escaped_in_the_uri():
    gateways = (GatewayRow(1, 1, "alpha-1", "203.0.113.10", prefix="1234#"),)
    decision = route(table(gateways=gateways, rules=(rule(1, "33", to_gw(1)),)))
    assert decision.routes[0].uri == "sip:1234%2333612345678@203.0.113.10:5060"


def test_caller_id_override_from_display_and_from_domain():
    alpha = CarrierRow(1, "Alpha", from_domain="trunk.c4router.example")
    tbl = table(
        carriers=(alpha, CarrierRow(2, "Beta")),
        rules=(rule(1, "33", to_gw(1), caller_id="33999999999", from_display="Acme Corp"),),
    )
    first = route(tbl).routes[0]
    assert first.from_uri == "sip:33999999999@trunk.c4router.example"
    assert first.from_display == "Acme Corp"
    assert first.to_display == "Callee"


def test_extra_headers_from_rule_carrier_and_pai():
    alpha = CarrierRow(1, "Alpha", send_pai=True, extra_headers=(("X-Trunk", "7"),))
    tbl = table(
        carriers=(alpha, CarrierRow(2, "Beta")),
        rules=(rule(1, "33", to_gw(1), extra_headers=(("X-Account", "acme"),)),),
    )
    assert route(tbl).routes[0].extra_headers == (
        "X-Account: acme\r\nX-Trunk: 7\r\nP-Asserted-Identity: <sip:+33123456789@10.10.0.10>\r\n"
    )


def test_tcp_and_ipv6_gateways_and_timers():
    gateways = (
        GatewayRow(1, 1, "v6", "2001:db8::1", port=5080, transport="tcp", fr_timer=2000,
                   fr_inv_timer=60000, socket="udp:192.0.2.1:5060"),
    )  # fmt: skip
    first = route(table(gateways=gateways, rules=(rule(1, "33", to_gw(1)),))).routes[0]
    assert first.uri == "sip:33612345678@[2001:db8::1]:5080;transport=tcp"
    assert first.dst_uri == "sip:[2001:db8::1]:5080;transport=tcp"
    assert (first.fr_timer, first.fr_inv_timer, first.socket) == (2000, 60000, "udp:192.0.2.1:5060")
    default = route(table(rules=(rule(1, "33", to_gw(3)),))).routes[0]
    assert (default.fr_timer, default.fr_inv_timer) == (5000, 30000)


@pytest.mark.parametrize("name", ["Evil\r\nX-Injected: 1", 'Quote" <sip:x@y>', "Tab\there\x00\x7f"])
def test_control_characters_never_reach_a_header(name):
    # Quotes are text: rtjson.quote_display writes them as quoted-pairs
    # (tests/security/test_display_names.py).
    decision = route(table(rules=(FRANCE,)), from_name=name, to_name=name)
    for r in decision.routes:
        for text in (r.from_display, r.to_display):
            assert not any(ord(ch) < 32 or ord(ch) == 127 for ch in text)


def test_the_failover_groups_remembered_per_table_are_bounded(monkeypatch):
    """A big table has a target list per prefix or nearly: remembering the failover groups of
    every list a call used would grow a worker all day long."""
    from routing.engine import decide as decide_module

    monkeypatch.setattr(decide_module, "GROUPS_CACHE_MAX", 4)
    rules = tuple(
        rule(n, f"33{n}", to_gw(1 + n % 3), to_gw(1 + (n + 1) % 3, order=1)) for n in range(1, 10)
    )
    tbl = table(rules=rules)
    for n in range(1, 10):
        decision = route(tbl, to_uri=f"sip:+33{n}12345678@x")
        assert decision.rule.id == n
        assert [r.target for r in decision.routes] == [
            tbl.gateway_hops[1 + n % 3].label,
            tbl.gateway_hops[1 + (n + 1) % 3].label,
        ]
        assert len(tbl.target_groups) <= 4
