"""The loader: database rows to the engine's table, patched from the change log."""

from __future__ import annotations

import logging
from datetime import time

import pytest

from routing.engine.table import TargetRow, token_digest
from routing.loader import build_from_database, update_from_database
from routing.models import (
    Did,
    NormalizationRule,
    RouteRule,
    RouteTarget,
    RoutingChange,
    RoutingVersion,
    bump_routing_version,
)
from tests.engine.test_patch import shape

from .conftest import saved


def update(old, caplog):  # type: ignore[no-untyped-def]
    with caplog.at_level(logging.INFO, logger="c4router.loader"):
        caplog.clear()
        table = update_from_database(old)
    how = " ".join(r.getMessage() for r in caplog.records)
    return table, how


def test_table_mirrors_the_rows(routing_data):
    table = build_from_database()
    (rule,) = table.rules_at(None, "33")
    assert rule.id == routing_data.france.pk and rule.window is None
    assert [(t.order, t.gateway_id) for t in rule.targets] == [
        (0, routing_data.alpha1.pk),
        (1, routing_data.beta1.pk),
    ]
    (did,) = table.did_ranges[11].rows
    assert (did.number, did.range_end) == ("33123456780", "33123456789")
    assert table.pbxs[routing_data.pbx.pk].inbound.callee[0].add_prefix == "33"
    assert table.carrier_headers[routing_data.alpha.pk] == "X-Trunk: alpha\r\n"
    assert table.token_digests == {token_digest(routing_data.instance.token.encode())}


def test_windows_and_disabled_rows(routing_data):
    routing_data.france.weekdays, routing_data.france.timezone = "12345", "Europe/Paris"
    routing_data.france.start_time, routing_data.france.end_time = time(9), time(18)
    routing_data.france.save()
    saved(RouteRule(prefix="44", enabled=False))
    table = build_from_database()
    (rule,) = table.rules_at(None, "33")
    assert rule.window.weekdays == frozenset({1, 2, 3, 4, 5})
    assert str(rule.window.tz) == "Europe/Paris" and rule.window.start == time(9)
    assert table.rules_at(None, "44") == ()  # disabled rules are not in the table


def test_unchanged_data_gives_no_new_table(routing_data, caplog):
    old = build_from_database()
    assert update(old, caplog)[0] is None


def test_edits_through_the_orm_patch_the_table_like_a_full_build(routing_data, caplog):
    old = build_from_database()
    france = routing_data.france
    france.prefix = "336"  # moves the rule to another bucket
    france.save()
    RouteTarget.objects.filter(rule=france, gateway=routing_data.beta1).get().delete()
    uk = saved(RouteRule(name="UK", prefix="44"))
    saved(RouteTarget(rule=uk, carrier=routing_data.beta))
    gone = saved(RouteRule(prefix="49"))
    gone.delete()
    did = Did.objects.get()
    did.number, did.range_end = "33999000000", "33999000099"
    did.save()
    saved(Did(tenant=routing_data.tenant, pbx=routing_data.pbx, number="4420794600"))
    saved(NormalizationRule(carrier=routing_data.alpha, direction="out", kind="prefix",
                            add_prefix="+"))  # fmt: skip
    patched, how = update(old, caplog)
    assert "patched" in how
    full = build_from_database()
    assert shape(patched) == shape(full)
    assert patched.version == full.version
    assert [t.gateway_id for t in patched.rules_at(None, "336")[0].targets] == [
        routing_data.alpha1.pk
    ]
    assert patched.carriers[routing_data.alpha.pk].outbound.callee  # small tables reloaded


def test_a_change_that_does_not_say_what_it_changed_rebuilds(routing_data, caplog):
    old = build_from_database()
    bump_routing_version()  # e.g. a script or a bulk import: "could be anything"
    table, how = update(old, caplog)
    assert "built" in how and table.version == old.version + 1


def test_a_table_older_than_the_log_rebuilds(routing_data, caplog):
    old = build_from_database()
    routing_data.france.priority = 5
    routing_data.france.save()
    RoutingVersion.objects.update(log_start=old.version + 2)  # as if pruned
    assert "built" in update(old, caplog)[1]


def test_the_log_is_pruned_as_versions_grow(routing_data, settings):
    from routing.models import version as version_module

    RoutingVersion.objects.update(version=version_module.CHANGE_LOG_VERSIONS * 3 - 2)
    routing_data.france.save()
    routing_data.france.save()  # lands on a multiple of 1000: prunes
    row = RoutingVersion.objects.get()
    assert row.log_start == row.version - version_module.CHANGE_LOG_VERSIONS + 1
    assert not RoutingChange.objects.filter(version__lt=row.log_start).exists()


@pytest.mark.parametrize("kind", ["rule", "did"])
def test_changes_record_where_the_row_was(routing_data, kind):
    if kind == "rule":
        routing_data.france.prefix = "34"
        routing_data.france.save()
        change = RoutingChange.objects.filter(kind="rule").latest("id")
        assert (change.object_id, change.old_tenant_id, change.old_key) == (
            routing_data.france.pk,
            None,
            "33",
        )
    else:
        did = Did.objects.get()
        did_id = did.pk
        did.delete()
        change = RoutingChange.objects.filter(kind="did").latest("id")
        assert (change.object_id, change.old_key) == (did_id, "33123456780")


# --- compact storage: plain rules (table.is_plain) are ints in the index ----------------------

NOT_PLAIN = {
    "name": {"name": "France"},
    "caller_prefix": {"caller_prefix": "331"},
    "priority": {"priority": 5},
    "weekdays": {"weekdays": "67"},
    "hours": {"start_time": time(22), "end_time": time(6)},
    "caller_id": {"caller_id": "33100000000"},
    "from_display": {"from_display": "Sales"},
    "extra_headers": {"extra_headers": "X-Route: premium"},
}


@pytest.mark.parametrize("field", NOT_PLAIN)
def test_a_rule_with_any_field_set_keeps_it(routing_data, field):
    changes = NOT_PLAIN[field]
    routing_data.france.name = ""  # the fixture's rule has a name: plain but for `field`
    for name, value in changes.items():
        setattr(routing_data.france, name, value)
    routing_data.france.save()
    old = build_from_database()
    routing_data.france.save()  # the same rule again, through a patch
    for table in (old, update_from_database(old)):
        (rule,) = table.rules_at(None, "33")
        assert rule.id == routing_data.france.pk
        for name, value in changes.items():
            got = getattr(rule, name, None)
            if name == "weekdays":
                got = "".join(str(day) for day in sorted(rule.window.weekdays))
            elif name in ("start_time", "end_time"):
                got = getattr(rule.window, name.split("_")[0])
            elif name == "extra_headers":
                got = "".join(f"{k}: {v}" for k, v in rule.extra_headers)
            assert got == value, name
        assert table.rule_entry(None, "33") is rule  # stored whole


def test_plain_rules_are_ints_that_share_their_target_lists(routing_data, caplog):
    gateways = (routing_data.alpha1, routing_data.beta1)
    made = []
    for prefix in ("441", "442", "443"):
        rule = saved(RouteRule(prefix=prefix))
        for order, gateway in enumerate(gateways):
            saved(RouteTarget(rule=rule, order=order, gateway=gateway))
        made.append(rule)
    empty = saved(RouteRule(prefix="49"))  # no targets yet
    table = build_from_database()
    rules = [table.rules_at(None, prefix)[0] for prefix in ("441", "442", "443")]
    assert [rule.id for rule in rules] == [rule.pk for rule in made]
    assert [t.gateway_id for t in rules[0].targets] == [g.pk for g in gateways]
    assert rules[0].targets is rules[1].targets is rules[2].targets  # one tuple for three
    assert table.rules_at(None, "49")[0].targets == ()
    assert all(type(table.rule_entry(None, p)) is int for p in ("441", "442", "49"))

    # Patched: a new name makes 441 a RuleRow; 442 gets 443's targets back after a detour.
    made[0].name = "UK 1"
    made[0].save()
    RouteTarget.objects.filter(rule=made[1], order=1).delete()
    saved(RouteTarget(rule=empty, gateway=routing_data.beta1))
    patched, how = update(table, caplog)
    assert "patched" in how
    assert shape(patched) == shape(build_from_database())
    assert patched.rules_at(None, "441")[0].name == "UK 1"
    assert [t.gateway_id for t in patched.rules_at(None, "442")[0].targets] == [
        routing_data.alpha1.pk
    ]
    assert [t.gateway_id for t in patched.rules_at(None, "49")[0].targets] == [
        routing_data.beta1.pk
    ]
    assert rules[1].targets == table.rules_at(None, "442")[0].targets  # the old table: as was


def test_target_lists_piled_up_by_patches_rebuild_the_table(routing_data, caplog, monkeypatch):
    """Patches append the target lists of changed rules to the table's TargetLists and do
    not look for an equal one (the dict that could was dropped after the build, to save its
    memory): once they are many, the next change rebuilds the table whole, and compact."""
    from routing.engine import table as table_module

    monkeypatch.setattr(table_module, "REBUILD_AFTER_APPENDED", 1000)  # 100,000: slow here
    old = build_from_database()
    pool = old.target_lists
    for gateway_id in range(1, 1002):  # what 1,001 edits of targets would have appended
        pool.slot((TargetRow(0, gateway_id=gateway_id),))
    assert pool.appended == 1001 and pool.needs_rebuild
    routing_data.france.save()
    table, how = update(old, caplog)
    assert "built" in how
    assert table.target_lists.appended == 0 and len(table.target_lists.lists) < 10


def test_a_moved_plain_rule_keeps_its_target_list(routing_data, caplog):
    rule = saved(RouteRule(prefix="441"))
    saved(RouteTarget(rule=rule, gateway=routing_data.alpha1))
    old = build_from_database()
    rule.prefix = "449"
    rule.save()
    patched, how = update(old, caplog)
    assert "patched" in how
    assert type(patched.rule_entry(None, "449")) is int and not patched.rules_at(None, "441")
    assert patched.target_lists.appended == 0  # the list is the one the old bucket held
    assert shape(patched) == shape(build_from_database())
