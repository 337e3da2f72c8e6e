"""Carrier health in the decision: down gateways skipped or put last, demoted ones skipped
with their probability, and never a call refused for health alone (no database)."""

from __future__ import annotations

from datetime import UTC, datetime

from routing.engine.table import HealthRow

from .builders import gateway_names, route, rule, table, to_gw

DOWN_AT = datetime(2026, 11, 25, 11, 58, 3, tzinfo=UTC)
FRANCE = rule(1, "33", to_gw(1), to_gw(3, order=1))


def test_a_healthy_table_answers_in_rule_order():
    decision = route(table(rules=(FRANCE,)))
    assert gateway_names(decision) == ["alpha-1", "beta-1"]
    assert decision.skipped == ()


def test_a_down_gateway_is_skipped_and_the_reason_says_since_when():
    tbl = table(
        rules=(FRANCE,), health=(HealthRow(1, down_since=DOWN_AT, reason="3 probes failed"),)
    )
    decision = route(tbl)
    assert gateway_names(decision) == ["beta-1"]
    assert decision.skipped == (
        "gateway Alpha/alpha-1: down since 2026-11-25 11:58:03 UTC (3 probes failed)",
    )


def test_a_down_gateway_whose_policy_says_last_is_tried_last():
    tbl = table(rules=(FRANCE,), health=(HealthRow(1, down_since=DOWN_AT, down_last=True),))
    decision = route(tbl)
    assert gateway_names(decision) == ["beta-1", "alpha-1"]
    assert decision.skipped == (
        "gateway Alpha/alpha-1: down since 2026-11-25 11:58:03 UTC, tried last",
    )


def test_when_every_gateway_is_down_the_call_still_gets_them_in_order():
    down = (HealthRow(1, down_since=DOWN_AT), HealthRow(3, down_since=DOWN_AT))
    decision = route(table(rules=(FRANCE,), health=down))
    assert decision.code == 200
    assert gateway_names(decision) == ["alpha-1", "beta-1"]
    assert decision.skipped[-1] == "every gateway left out by health: tried anyway"


def test_a_carrier_target_loses_only_its_down_gateway():
    from .builders import to_carrier

    tbl = table(rules=(rule(1, "33", to_carrier(1)),), health=(HealthRow(2, down_since=DOWN_AT),))
    for seed in range(20):
        assert gateway_names(route(tbl, seed=seed)) == ["alpha-1"]


def test_a_demoted_gateway_is_skipped_with_its_probability():
    tbl = table(
        rules=(FRANCE,),
        health=(HealthRow(1, skip_probability=0.5, failure_share=0.55, window_attempts=40),),
    )
    firsts = [gateway_names(route(tbl, seed=seed))[0] for seed in range(2000)]
    share = firsts.count("beta-1") / len(firsts)
    assert 0.45 < share < 0.55  # about half the calls skip alpha-1
    skipped = next(
        d for d in (route(tbl, seed=s) for s in range(50)) if gateway_names(d)[0] == "beta-1"
    )
    assert skipped.skipped == (
        "gateway Alpha/alpha-1: demoted, 55% failures in 40 attempts (skip probability 50%)",
    )


def test_a_fully_demoted_gateway_is_never_first_and_zero_never_skips():
    full = table(rules=(FRANCE,), health=(HealthRow(1, skip_probability=1.0),))
    none = table(rules=(FRANCE,), health=(HealthRow(1, skip_probability=0.0),))
    for seed in range(50):
        assert gateway_names(route(full, seed=seed)) == ["beta-1"]
        assert gateway_names(route(none, seed=seed)) == ["alpha-1", "beta-1"]


def test_health_of_an_unknown_gateway_is_ignored():
    decision = route(table(rules=(FRANCE,), health=(HealthRow(99, down_since=DOWN_AT),)))
    assert gateway_names(decision) == ["alpha-1", "beta-1"]
