"""The route-or-reject migration (issue 12, item 5): a rule saved without targets answered
480 Temporarily Unavailable; after the migration it is a rule that rejects with that very
code and reason, and a rule with targets still routes."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("routing", "0010_health")]
AFTER = [("routing", "0011_route_rule_action")]


def migrate(targets: list[tuple[str, str]]):  # type: ignore[no-untyped-def]
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def test_rules_without_targets_become_rules_that_reject_480() -> None:
    old = migrate(BEFORE)
    try:
        rule_model = old.get_model("routing", "RouteRule")
        carrier = old.get_model("routing", "Carrier").objects.create(name="Alpha")
        routed = rule_model.objects.create(prefix="33")
        old.get_model("routing", "RouteTarget").objects.create(rule=routed, carrier=carrier)
        empty = rule_model.objects.create(prefix="34")

        new = migrate(AFTER).get_model("routing", "RouteRule")
        routed_after, empty_after = new.objects.get(pk=routed.pk), new.objects.get(pk=empty.pk)
        assert (routed_after.action, routed_after.reject_code, routed_after.reject_reason) == (
            "route",
            None,
            "",
        )
        assert (empty_after.action, empty_after.reject_code, empty_after.reject_reason) == (
            "reject",
            480,
            "Temporarily Unavailable",
        )
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
