"""Importing route rules from CSV: the format, the errors, all or nothing, the modes."""

from __future__ import annotations

import io
from datetime import time
from typing import Any

import pytest

from routing import imports
from routing.models import RouteRule, RouteTarget, current_routing_version
from tests.api import factories

pytestmark = pytest.mark.django_db

HEADER = (
    "tenant,name,prefix,caller_prefix,priority,enabled,weekdays,start_time,end_time,timezone,"
    "targets"
)


def run(text: str, **kwargs: Any) -> imports.ImportResult:
    return imports.import_route_rules(io.StringIO(text), **kwargs)


def failure(text: str, **kwargs: Any) -> imports.ImportFailed:
    with pytest.raises(imports.ImportFailed) as info:
        run(text, **kwargs)
    return info.value


def targets_of(rule: RouteRule) -> list[tuple[int, str, int]]:
    return [
        (t.order, str(t.gateway or t.carrier), t.weight)
        for t in rule.targets.select_related("carrier", "gateway__carrier").order_by("order", "id")
    ]


def test_a_full_line(world: dict[str, Any]) -> None:
    result = run(
        f"{HEADER}\n"
        "Acme,Paris mobiles,3361,331,10,true,12345,08:00,18:30,Europe/Paris,"
        '"carrier:Alpha Telecom@0/100;gateway:Beta Voice/beta-1@1/30;'
        'gateway:Beta Voice/beta-2@1/70"\n'
    )
    assert result == imports.ImportResult(created=1, targets_created=3, deleted=0)
    rule = RouteRule.objects.get()
    assert (rule.tenant, rule.name, rule.prefix, rule.caller_prefix) == (
        world["acme"],
        "Paris mobiles",
        "3361",
        "331",
    )
    assert (rule.priority, rule.enabled, rule.weekdays, rule.timezone) == (
        10,
        True,
        "12345",
        "Europe/Paris",
    )
    assert (rule.start_time, rule.end_time) == (time(8, 0), time(18, 30))
    assert targets_of(rule) == [
        (0, "Alpha Telecom", 100),
        (1, "Beta Voice / beta-1", 30),
        (1, "Beta Voice / beta-2", 70),
    ]


def test_defaults_for_empty_cells_and_missing_columns(world: dict[str, Any]) -> None:
    run("prefix,targets\n44,carrier:Alpha Telecom;carrier:Beta Voice@5\n,carrier:Beta Voice\n")
    default, uk = RouteRule.objects.order_by("prefix")
    assert default.prefix == "" and default.tenant is None
    assert (uk.priority, uk.enabled, uk.timezone, uk.weekdays) == (100, True, "UTC", "")
    # ORDER defaults to the position in the list, WEIGHT to 100.
    assert targets_of(uk) == [(0, "Alpha Telecom", 100), (5, "Beta Voice", 100)]
    assert targets_of(default) == [(0, "Beta Voice", 100)]
    assert (uk.action, uk.reject_code, uk.reject_reason) == ("route", None, "")


def test_names_with_separators_are_escaped(world: dict[str, Any]) -> None:
    odd = factories.carrier(name="A/B; C@D")
    factories.gateway(carrier=odd, name="x/y")
    run("prefix,targets\n" + '1,"carrier:A\\/B\\; C\\@D@0;gateway:A\\/B\\; C\\@D/x\\/y@1"\n')
    assert targets_of(RouteRule.objects.get()) == [
        (0, "A/B; C@D", 100),
        (1, "A/B; C@D / x/y", 100),
    ]


def test_extra_headers_span_lines(world: dict[str, Any]) -> None:
    run(
        'prefix,extra_headers,targets\n33,"X-A: 1\nX-B: 2",carrier:Alpha Telecom\n'
        "4,,carrier:Alpha Telecom\n"
    )
    assert RouteRule.objects.get(prefix="33").extra_headers == "X-A: 1\nX-B: 2"


@pytest.mark.parametrize(
    ("line", "field", "message"),
    [
        (",+33,,,,,,,,", "prefix", "Enter digits only (0-9), without '+', spaces or dashes."),
        (",33,,5000,,,,,,", "priority", "Ensure this value is less than or equal to 1000."),
        (",33,,abc,,,,,,", "priority", "“abc” value must be an integer."),
        (",33,,,maybe,,,,,", "enabled", "“maybe” value must be either True or False."),
        (
            ",33,,,,189,,,,",
            "weekdays",
            "Enter the days as digits 1-7 (Monday=1 ... Sunday=7), each at most once, "
            "e.g. 12345 for Monday to Friday.",
        ),
        (
            ",33,,,,,08:00,,,",
            "end_time",
            "Give both the start and the end of the time window, or neither.",
        ),
        (
            ",33,,,,,08:00,08:00,,",
            "end_time",
            "The window ends when it starts: it would never open.",
        ),
        (
            ",33,,,,,25:00,06:00,,",
            "start_time",
            "“25:00” value has the correct format (HH:MM[:ss[.uuuuuu]]) but it is an invalid time.",
        ),
        (
            ",33,,,,,,,Mars/Olympus,",
            "timezone",
            "'Mars/Olympus' is not a known time zone: use an IANA name such as Europe/Paris "
            "or UTC.",
        ),
        ("Nobody,33,,,,,,,,", "tenant", "There is no tenant named 'Nobody'."),
        (
            ",33,,,,,,,,carrier:Gamma",
            "targets",
            "'carrier:Gamma': there is no carrier named 'Gamma'.",
        ),
        (
            ",33,,,,,,,,gateway:Beta Voice/beta-9",
            "targets",
            "'gateway:Beta Voice/beta-9': carrier 'Beta Voice' has no gateway named 'beta-9'.",
        ),
        (
            ",33,,,,,,,,carrier:Alpha Telecom@100",
            "targets",
            "'carrier:Alpha Telecom@100': order: Ensure this value is less than or equal to 99.",
        ),
        (
            ",33,,,,,,,,carrier:Alpha Telecom@0/0",
            "targets",
            "'carrier:Alpha Telecom@0/0': weight: Ensure this value is greater than or equal to 1.",
        ),
        (
            ",33,,,,,,,,carrier:Alpha Telecom;carrier:Alpha Telecom",
            "targets",
            "'carrier:Alpha Telecom': this target appears twice in the list.",
        ),
        (
            ",33,,,,,,,,Alpha Telecom",
            "targets",
            "'Alpha Telecom': start each target with 'carrier:' or 'gateway:' "
            "(e.g. carrier:Alpha Telecom@0/100 or gateway:Alpha Telecom/alpha-1@1).",
        ),
    ],
)
def test_a_bad_cell_names_line_field_and_the_models_message(
    world: dict[str, Any], line: str, field: str, message: str
) -> None:
    header = (
        "tenant,prefix,caller_prefix,priority,enabled,weekdays,start_time,end_time,timezone,targets"
    )
    error = failure(f"{header}\n,1,,,,,,,,carrier:Alpha Telecom\n{line}\n")
    assert [(e.line, e.field, e.message) for e in error.errors] == [(3, field, message)]
    assert str(error.errors[0]) == f"Line 3, {field}: {message}"
    assert not RouteRule.objects.exists()


def test_messages_are_the_model_validators(world: dict[str, Any]) -> None:
    """Checked against full_clean() itself, so that a changed validator cannot drift."""
    rule = RouteRule(prefix="33x", caller_prefix="1" * 21, weekdays="8", timezone="Nowhere")
    with pytest.raises(Exception) as info:
        rule.full_clean()
    expected = info.value.message_dict  # type: ignore[attr-defined]
    error = failure(f"prefix,caller_prefix,weekdays,timezone\n33x,{'1' * 21},8,Nowhere\n")
    got: dict[str, list[str]] = {}
    for e in error.errors:
        got.setdefault(e.field, []).append(e.message)
    assert got == expected


def test_a_bad_line_in_the_middle_of_a_big_file_writes_nothing(world: dict[str, Any]) -> None:
    lines = [f",{1000000 + n},,,,,,,,carrier:Alpha Telecom" for n in range(20_000)]
    lines[12_344] = ",33x,,,,,,,,carrier:Alpha Telecom"  # line 12,346 of the file
    version = current_routing_version()
    history = RouteRule.history.count()
    error = failure(
        "tenant,prefix,caller_prefix,priority,enabled,weekdays,start_time,end_time,timezone,targets\n"
        + "\n".join(lines)
    )
    assert [(e.line, e.field) for e in error.errors] == [(12_346, "prefix")]
    assert "Line 12346, prefix: Enter digits only" in str(error)
    assert not RouteRule.objects.exists()
    assert not RouteTarget.objects.exists()
    assert RouteRule.history.count() == history
    assert current_routing_version() == version


def test_many_errors_are_reported_up_to_a_limit(world: dict[str, Any]) -> None:
    lines = "\n".join(f"{n}x" for n in range(imports.MAX_ERRORS + 10))
    error = failure(f"prefix\n{lines}\n")
    assert len(error.errors) == imports.MAX_ERRORS
    assert error.truncated
    assert [e.line for e in error.errors[:3]] == [2, 3, 4]


def test_version_bumped_once_and_history_recorded(world: dict[str, Any], admin_user: Any) -> None:
    version = current_routing_version()
    run(
        "prefix,targets\n33,carrier:Alpha Telecom\n34,carrier:Beta Voice\n",
        user=admin_user,
        change_reason="carrier price list",
    )
    assert current_routing_version() == version + 1
    records = list(RouteRule.history.all())
    assert len(records) == 2
    assert {(r.history_type, r.history_user, r.history_change_reason) for r in records} == {
        ("+", admin_user, "carrier price list")
    }
    assert RouteTarget.history.filter(history_type="+").count() == 2


@pytest.mark.parametrize(
    ("text", "line", "field", "message"),
    [
        ("", 1, "file", "The file is empty: expected a header line."),
        ("prefix,colour\n33,red\n", 1, "colour", None),
        ("name\nx\n", 1, "prefix", "This column is required."),
        ("prefix,name\n33\n", 2, "file", "Expected 2 cells as in the header, found 1."),
    ],
)
def test_malformed_files(
    world: dict[str, Any], text: str, line: int, field: str, message: str | None
) -> None:
    error = failure(text)
    assert (error.errors[0].line, error.errors[0].field) == (line, field)
    if message:
        assert error.errors[0].message == message


def test_blank_lines_are_skipped_and_line_numbers_stay_true(world: dict[str, Any]) -> None:
    error = failure(
        'prefix,extra_headers,targets\n\n33,"X-A: 1\nX-B: 2",carrier:Alpha Telecom\n\n34x,,\n'
    )
    assert [(e.line, e.field) for e in error.errors] == [(6, "prefix")]


def test_dry_run_validates_and_counts_but_writes_nothing(world: dict[str, Any]) -> None:
    version = current_routing_version()
    result = run("prefix,targets\n33,carrier:Alpha Telecom\n", dry_run=True)
    assert result == imports.ImportResult(created=1, targets_created=1, dry_run=True)
    assert not RouteRule.objects.exists()
    assert current_routing_version() == version


# --- Modes -----------------------------------------------------------------------------------


def test_add_refuses_a_duplicate_of_the_database_or_of_the_file(world: dict[str, Any]) -> None:
    existing = factories.route_rule(prefix="33", tenant=world["acme"])
    error = failure("tenant,prefix,targets\nAcme,33,carrier:Alpha Telecom\n")
    assert error.errors[0].line == 2 and error.errors[0].field == "prefix"
    # Named as the operator knows it: scope and prefix, not an internal id.
    assert error.errors[0].message.startswith(
        f"A rule already exists for tenant {existing.tenant.name}, prefix 33, with the same "
        "caller prefix, time window and priority"
    ), error.errors[0].message
    # Same prefix in another scope, or another priority: not a duplicate.
    run(
        "tenant,prefix,priority,targets\n,33,,carrier:Alpha Telecom\n"
        "Acme,33,50,carrier:Alpha Telecom\n"
    )
    error = failure("prefix,targets\n44,carrier:Alpha Telecom\n44,carrier:Alpha Telecom\n")
    assert error.errors[0].line == 3
    assert error.errors[0].message.startswith("Line 2 already defines a rule")
    assert RouteRule.objects.count() == 3


def test_replace_deletes_the_rules_of_the_same_scope_and_prefix(world: dict[str, Any]) -> None:
    old = factories.route_rule(prefix="33", targets=[world["alpha"]])
    old_window = factories.route_rule(prefix="33", weekdays="67")
    kept_other_prefix = factories.route_rule(prefix="34")
    kept_other_scope = factories.route_rule(prefix="33", tenant=world["acme"])
    version = current_routing_version()
    result = run("prefix,targets\n33,carrier:Beta Voice\n", mode=imports.REPLACE)
    assert (result.created, result.deleted) == (1, 2)
    assert not RouteRule.objects.filter(pk__in=[old.pk, old_window.pk]).exists()
    assert RouteRule.objects.filter(pk__in=[kept_other_prefix.pk, kept_other_scope.pk]).count() == 2
    new = RouteRule.objects.get(prefix="33", tenant=None)
    assert targets_of(new) == [(0, "Beta Voice", 100)]
    assert current_routing_version() == version + 1
    # The deletions are in the history, as a delete in the admin would be.
    assert RouteRule.history.filter(id=old.pk, history_type="-").exists()
    assert RouteTarget.history.filter(rule_id=old.pk, history_type="-").exists()


def test_replace_scope_empties_each_named_scope(world: dict[str, Any]) -> None:
    factories.route_rule(prefix="1", tenant=world["acme"], targets=[world["alpha"]])
    factories.route_rule(prefix="2", tenant=world["acme"])
    other = factories.route_rule(prefix="3", tenant=world["globex"])
    global_rule = factories.route_rule(prefix="4")
    result = run(
        "tenant,prefix,targets\nAcme,9,carrier:Alpha Telecom\n", mode=imports.REPLACE_SCOPE
    )
    assert (result.created, result.deleted) == (1, 2)
    assert set(RouteRule.objects.values_list("prefix", flat=True)) == {"9", "3", "4"}
    assert RouteRule.objects.filter(pk__in=[other.pk, global_rule.pk]).count() == 2


def test_a_failed_replace_deletes_nothing(world: dict[str, Any]) -> None:
    old = factories.route_rule(prefix="33")
    failure("prefix,targets\n33,carrier:Nobody\n", mode=imports.REPLACE)
    assert RouteRule.objects.filter(pk=old.pk).exists()


# --- Export -----------------------------------------------------------------------------------


def test_round_trip(world: dict[str, Any]) -> None:
    odd = factories.carrier(name="Odd;Name")
    source = (
        f"{','.join(imports.ROUTE_COLUMNS)}\n"
        ",Default,,,100,true,,,,UTC,carrier:Alpha Telecom@0/100,route,,,,,,,priority,\n"
        ",Premium,3389,,100,true,,,,UTC,,reject,403,Premium Numbers Blocked,,,,,priority,\n"
        "Acme,Paris,3361,331,10,false,12345,08:00,18:30,Europe/Paris,carrier:Alpha Telecom@0/100;"
        "gateway:Beta Voice/beta-1@1/30;gateway:Beta Voice/beta-2@1/70,route,,,33100000000,"
        'Acme Sales,"X-A: 1\nX-B: 2",A rule,lcr,\n'
        "Globex,,44,,100,true,67,22:00,06:00,UTC,carrier:Odd\\;Name@3/1,route,,,,,,,lcr_band,5.00\n"
    )
    run(source)
    out = io.StringIO()
    assert imports.export_route_rules(out) == 4
    exported = out.getvalue()
    assert exported == source
    # And back again, into an empty table: the same rows.
    before = sorted(RouteRule.objects.values_list("prefix", "tenant__name", "priority"))
    RouteTarget.objects.all().delete()
    RouteRule.objects.all().delete()
    run(exported)
    assert sorted(RouteRule.objects.values_list("prefix", "tenant__name", "priority")) == before
    assert targets_of(RouteRule.objects.get(prefix="44")) == [(3, str(odd), 1)]
    banded = RouteRule.objects.get(prefix="44")
    assert (banded.mode, str(banded.band_percent)) == ("lcr_band", "5.00")


def test_export_of_a_queryset(world: dict[str, Any]) -> None:
    factories.route_rule(prefix="33")
    factories.route_rule(prefix="44")
    out = io.StringIO()
    assert imports.export_route_rules(out, RouteRule.objects.filter(prefix="44")) == 1
    assert out.getvalue().splitlines()[1].split(",")[2] == "44"


def test_export_of_a_queryset_filtered_on_targets(world: dict[str, Any]) -> None:
    """A rule selected through one of its targets (the admin's list filters) is exported
    once, with all its targets."""
    factories.route_rule(prefix="33", targets=[world["alpha"], world["beta1"]])
    factories.route_rule(prefix="44", targets=[world["beta2"]])
    out = io.StringIO()
    selected = RouteRule.objects.filter(targets__carrier=world["alpha"])
    assert imports.export_route_rules(out, selected) == 1
    assert out.getvalue().splitlines()[1:] == [
        ",,33,,100,true,,,,UTC,carrier:Alpha Telecom@0/100;gateway:Beta Voice/beta-1@1/100,route,,,"
        ",,,,priority,"
    ]


def test_the_portable_path_writes_the_same(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch, admin_user: Any
) -> None:
    """Off PostgreSQL (SQLite in development) the import uses bulk_create_with_history:
    same rows, same history, same deletions."""
    from django.db import connections

    monkeypatch.setattr(type(connections["default"]), "vendor", "sqlite")
    old = factories.route_rule(prefix="33", targets=[world["alpha"]])
    result = run(
        "prefix,targets,action,reject_code,reject_reason\n"
        "33,carrier:Beta Voice@0/7;gateway:Beta Voice/beta-1@1,,,\n34,,reject,480,Closed\n",
        mode=imports.REPLACE,
        user=admin_user,
    )
    assert (result.created, result.targets_created, result.deleted) == (2, 2, 1)
    assert targets_of(RouteRule.objects.get(prefix="33")) == [
        (0, "Beta Voice", 7),
        (1, "Beta Voice / beta-1", 100),
    ]
    assert RouteRule.history.filter(id=old.pk, history_type="-").exists()
    assert RouteRule.history.filter(history_type="+", history_user=admin_user).count() == 2
    assert RouteTarget.history.filter(history_type="+", history_user=admin_user).count() == 2


def test_history_rows_match_what_a_save_records(world: dict[str, Any]) -> None:
    """The COPY path writes the same historical row as django-simple-history on save()."""
    run(
        "tenant,prefix,weekdays,start_time,end_time,targets\n"
        "Acme,33,12,08:00,09:00,carrier:Alpha Telecom\n"
    )
    imported = RouteRule.objects.get()
    saved = factories.route_rule(
        prefix="34", tenant=world["acme"], weekdays="12", start_time="08:00", end_time="09:00"
    )
    fields = [f.attname for f in RouteRule.history.model.tracked_fields]
    skip = {"id", "prefix", "created_at", "updated_at"}
    a = RouteRule.history.get(id=imported.pk)
    b = RouteRule.history.get(id=saved.pk)
    assert {f: getattr(a, f) for f in fields if f not in skip} == {
        f: getattr(b, f) for f in fields if f not in skip
    }
    assert a.history_type == b.history_type == "+"
    assert a.created_at == imported.created_at


# --- Route or reject (issue 12, item 5) --------------------------------------------------------


def test_a_rule_that_routes_needs_a_target_and_one_that_rejects_has_none(
    world: dict[str, Any],
) -> None:
    error = failure(
        "prefix,targets,action,reject_code,reject_reason\n"
        "33,,,,\n"
        "34,carrier:Alpha Telecom,reject,403,Forbidden\n"
        "35,,reject,,\n"
        "36,,reject,200,OK\n"
        "37,,reject,403,No\ttabs\n"
    )
    assert [(e.line, e.field, e.message) for e in error.errors] == [
        (2, "targets", imports.NO_TARGETS),
        (3, "targets", imports.TARGETS_OF_A_REJECT),
        (4, "reject_code", "A rule that rejects needs the SIP code to answer."),
        (4, "reject_reason", "A rule that rejects needs the reason phrase."),
        (5, "reject_code", "Ensure this value is greater than or equal to 400."),
        (6, "reject_reason", error.errors[-1].message),
    ]
    assert error.errors[-1].message.startswith("Enter a SIP reason phrase")
    assert not RouteRule.objects.exists()


def test_a_rule_that_rejects(world: dict[str, Any]) -> None:
    run("prefix,action,reject_code,reject_reason\n3389,reject,403,Premium Numbers Blocked\n")
    rule = RouteRule.objects.get()
    assert (rule.action, rule.reject_code, rule.reject_reason) == (
        "reject",
        403,
        "Premium Numbers Blocked",
    )
    assert not rule.targets.exists()


# --- Files as operators make them (issue 12, item 4) ----------------------------------------


def test_carrier_names_match_whatever_their_case(world: dict[str, Any]) -> None:
    run("prefix,targets\n33,carrier:alpha telecom;gateway:BETA VOICE/beta-1\n")
    assert targets_of(RouteRule.objects.get()) == [
        (0, "Alpha Telecom", 100),
        (1, "Beta Voice / beta-1", 100),
    ]


def test_an_unknown_carrier_gets_the_closest_names(world: dict[str, Any]) -> None:
    error = failure("prefix,targets\n33,carrier:Alpha Telekom\n34,carrier:Zzz\n")
    assert [e.message for e in error.errors] == [
        "'carrier:Alpha Telekom': there is no carrier named 'Alpha Telekom': did you mean "
        "'Alpha Telecom'?",
        "'carrier:Zzz': there is no carrier named 'Zzz'.",
    ]


def test_a_semicolon_separated_file_is_read(world: dict[str, Any]) -> None:
    # What a spreadsheet in a comma-decimal locale saves: ';' between columns, the target
    # list (which holds ';') quoted.
    run('name;prefix;targets\nSpain;34;"carrier:Alpha Telecom@0/60;carrier:Beta Voice@0/40"\n')
    rule = RouteRule.objects.get()
    assert (rule.name, rule.prefix) == ("Spain", "34")
    assert targets_of(rule) == [(0, "Alpha Telecom", 60), (0, "Beta Voice", 40)]


def test_a_header_mixing_separators_gets_a_hint(world: dict[str, Any]) -> None:
    error = failure("name;prefix,targets\nSpain;34,carrier:Alpha Telecom\n")
    # The hint, and the required column it hid.
    assert [(e.line, e.field) for e in error.errors] == [(1, "file"), (1, "prefix")]
    assert "look separated by ';'" in error.errors[0].message
