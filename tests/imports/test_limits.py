"""Capacity limits by CSV (routing.imports_limits; issue 14: "in the admin, the API and CSV"):
one file for tenants, PBXs, IP sources, carriers and gateways, existing objects only, all or
nothing, errors by line, export -> import round trip, the workers' table sees the limits."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command

from routing import imports
from routing.imports_limits import export_limits, import_limits
from routing.loader import build_from_database, update_from_database
from routing.models import Carrier, Gateway, IpSource, Pbx, RoutingVersion, Tenant
from tests.api import factories

pytestmark = pytest.mark.django_db

HEADER = "kind,name,max_calls,max_cps\n"


@pytest.fixture
def limited(world: dict[str, Any]) -> dict[str, Any]:
    """The import tests' world, plus an IP source and a gateway and PBX with '/' in names."""
    world["source"] = factories.ip_source(cidr="192.0.2.0/24", carrier=world["alpha"], pbx=None)
    world["slashed"] = factories.gateway(carrier=world["alpha"], name="a/1")
    return world


def run(text: str, **kwargs: Any) -> imports.ImportResult:
    return import_limits(io.StringIO(text), **kwargs)


def limits(obj: Any) -> tuple[int | None, int | None]:
    obj.refresh_from_db()
    return obj.max_calls, obj.max_cps


def errors_of(text: str, **kwargs: Any) -> list[tuple[int, str, str]]:
    with pytest.raises(imports.ImportFailed) as failed:
        run(text, **kwargs)
    return [(e.line, e.field, e.message) for e in failed.value.errors]


def test_import_sets_each_kinds_limits_and_leaves_the_others(limited):
    limited["globex"].max_calls = 7
    limited["globex"].save()
    version = RoutingVersion.objects.get().version
    result = run(
        HEADER + "tenant,Acme,200,20\n"
        "pbx,Acme/main,50,\n"
        "ip_source,192.0.2.0/24,,10\n"
        "carrier,Alpha Telecom,1000,100\n"
        "gateway,Beta Voice/beta-1,500,5\n"
        "gateway,Alpha Telecom/a\\/1,0,0\n"
    )
    assert (result.updated, result.unchanged) == (6, 0)
    assert limits(limited["acme"]) == (200, 20)
    assert limits(limited["pbx"]) == (50, None)
    assert limits(limited["source"]) == (None, 10)
    assert limits(limited["alpha"]) == (1000, 100)
    assert limits(limited["beta1"]) == (500, 5)
    assert limits(limited["slashed"]) == (0, 0)
    # Not in the file: kept.
    assert limits(limited["globex"]) == (7, None)
    assert limits(limited["beta2"]) == (None, None)
    assert RoutingVersion.objects.get().version == version + 1  # one bump
    # A history record per object changed, with the import's reason.
    record = limited["acme"].history.latest()
    assert (record.max_calls, record.history_change_reason) == (
        200,
        "CSV import of capacity limits",
    )


def test_an_empty_cell_removes_a_limit_and_same_values_write_nothing(limited):
    Tenant.objects.filter(pk=limited["acme"].pk).update(max_calls=10, max_cps=2)
    records = limited["acme"].history.count()
    result = run(HEADER + "tenant,Acme,,2\ncarrier,Beta Voice,,\n")
    assert (result.updated, result.unchanged) == (1, 1)
    assert limits(limited["acme"]) == (None, 2)
    assert limited["acme"].history.count() == records + 1
    assert limited["beta"].history.count() == 1  # its creation only


def test_export_then_import_round_trips(limited):
    Tenant.objects.filter(pk=limited["acme"].pk).update(max_calls=10)
    Gateway.objects.filter(pk=limited["slashed"].pk).update(max_cps=3)
    out = io.StringIO()
    count = export_limits(out)
    text = out.getvalue()
    lines = text.splitlines()
    assert lines[0] == "kind,name,max_calls,max_cps"
    assert count == len(lines) - 1 == 2 + 1 + 1 + 2 + 3  # tenants, pbx, source, carriers, gws
    assert "tenant,Acme,10,\n" in text and "gateway,Alpha Telecom/a\\/1,,3\n" in text
    assert "pbx,Acme/main,,\n" in text and "ip_source,192.0.2.0/24,,\n" in text
    # Edited and imported back: only the edited line changes anything.
    edited = text.replace("tenant,Globex,,", "tenant,Globex,30,3")
    result = run(edited)
    assert (result.updated, result.unchanged) == (1, count - 1)
    assert limits(limited["globex"]) == (30, 3)
    assert limits(limited["slashed"]) == (None, 3)
    # Only the limited ones.
    out = io.StringIO()
    assert export_limits(out, limited_only=True) == 3
    assert out.getvalue().splitlines()[1:] == [
        "tenant,Acme,10,",
        "tenant,Globex,30,3",
        "gateway,Alpha Telecom/a\\/1,,3",
    ]


def test_bad_lines_are_reported_by_line_and_nothing_is_written(limited):
    text = HEADER + (
        "tenant,Acme,5,5\n"  # 2: good, but not written
        "tenant,Acmee,1,1\n"  # 3
        "pbx,Acme/mian,1,\n"  # 4
        "pbx,Acme,1,\n"  # 5
        "gateway,Betta Voice/beta-1,1,\n"  # 6
        "ip_source,198.51.100.0/24,1,\n"  # 7
        "ip_source,not-a-network,1,\n"  # 8
        "router,x,1,\n"  # 9
        "carrier,Alpha Telecom,-1,2000000\n"  # 10
        "carrier,Beta Voice,abc,\n"  # 11
        "tenant,Acme,6,6\n"  # 12: twice
    )
    errors = errors_of(text)
    by_line = {line: (field, message) for line, field, message in errors}
    assert by_line[3] == ("name", "There is no tenant named 'Acmee': did you mean 'Acme'?")
    assert by_line[4] == ("name", "Tenant 'Acme' has no PBX named 'mian': did you mean 'main'?")
    assert by_line[5][0] == "name" and "TENANT/PBX" in by_line[5][1]
    assert by_line[6] == (
        "name",
        "There is no carrier named 'Betta Voice': did you mean 'Beta Voice'?",
    )
    assert by_line[7] == ("name", "There is no IP source with the network 198.51.100.0/24.")
    assert by_line[8][0] == "name"
    assert by_line[9] == (
        "kind",
        "Unknown kind 'router': use tenant, pbx, ip_source, carrier, gateway.",
    )
    assert [(f, m) for line, f, m in errors if line == 10] == [
        ("max_calls", "Ensure this value is greater than or equal to 0."),
        ("max_cps", "Ensure this value is less than or equal to 100000."),
    ]
    assert by_line[11] == ("max_calls", "“abc” value must be an integer.")
    assert by_line[12] == ("name", "Line 2 already sets this tenant's limits.")
    assert 2 not in by_line
    assert limits(limited["acme"]) == (None, None)  # all or nothing


def test_the_csv_gates_of_the_other_imports_apply(limited):
    assert errors_of("kind,name,max_calls\ntenant,Acme,1\n") == [
        (1, "max_cps", "This column is required.")
    ]
    assert errors_of(HEADER + "tenant,Ac\x00me,1,1\n")[0][:2] == (2, "name")
    # A formula-looking name comes back from the export's quote.
    Tenant.objects.filter(pk=limited["globex"].pk).update(name="=cmd")
    out = io.StringIO()
    export_limits(out)
    assert "tenant,'=cmd,,\n" in out.getvalue()
    run(out.getvalue().replace("tenant,'=cmd,,", "tenant,'=cmd,4,"))
    assert limits(limited["globex"]) == (4, None)


def test_a_user_needs_the_change_permission_of_each_kind(limited, django_user_model):
    user = django_user_model.objects.create_user("ops")
    user.user_permissions.add(Permission.objects.get(codename="change_tenant"))
    text = HEADER + "tenant,Acme,5,\ncarrier,Alpha Telecom,5,\ngateway,Beta Voice/beta-1,5,\n"
    errors = errors_of(text, user=user)
    assert errors == [
        (
            3,
            "kind",
            "You may not change the limits of carriers: that needs the permission to change "
            "carriers.",
        ),
        (
            4,
            "kind",
            "You may not change the limits of gateways: that needs the permission to change "
            "gateways.",
        ),
    ]
    assert limits(limited["acme"]) == (None, None)
    user = django_user_model.objects.get(pk=user.pk)  # fresh permission cache
    run(HEADER + "tenant,Acme,5,\n", user=user)
    assert limits(limited["acme"]) == (5, None)
    assert limited["acme"].history.latest().history_user == user


def test_dry_run_writes_nothing(limited):
    version = RoutingVersion.objects.get().version
    result = run(HEADER + "tenant,Acme,5,\n", dry_run=True)
    assert (result.updated, result.dry_run) == (1, True)
    assert limits(limited["acme"]) == (None, None)
    assert RoutingVersion.objects.get().version == version


def test_the_workers_table_sees_the_new_limits(limited):
    old = build_from_database()
    assert old.tenants[limited["acme"].pk].max_calls is None
    run(
        HEADER + "tenant,Acme,200,20\npbx,Acme/main,50,\ncarrier,Alpha Telecom,1000,\n"
        "gateway,Beta Voice/beta-1,,7\n"
    )
    table = update_from_database(old)
    assert table.version > old.version
    assert (
        table.tenants[limited["acme"].pk].max_calls,
        table.tenants[limited["acme"].pk].max_cps,
    ) == (200, 20)
    assert table.pbxs[limited["pbx"].pk].max_calls == 50
    assert table.carriers[limited["alpha"].pk].max_calls == 1000
    assert table.gateways[limited["beta1"].pk].max_cps == 7


def test_commands(limited, tmp_path):
    path = tmp_path / "limits.csv"
    path.write_text(HEADER + "carrier,Alpha Telecom,9,\n")
    out = io.StringIO()
    call_command("import_limits", str(path), "--dry-run", "--no-progress", stdout=out)
    assert "Would change the limits of 1 object; 0 unchanged." in out.getvalue()
    assert limits(limited["alpha"]) == (None, None)
    call_command("import_limits", str(path), "--no-progress", stdout=io.StringIO())
    assert limits(limited["alpha"]) == (9, None)
    target = tmp_path / "out.csv"
    call_command("export_limits", str(target), "--limited-only", stderr=io.StringIO())
    assert target.read_text() == HEADER + "carrier,Alpha Telecom,9,\n"
    path.write_text(HEADER + "carrier,Nope,9,\n")
    with pytest.raises(CommandError, match="Line 2, name: There is no carrier named 'Nope'"):
        call_command("import_limits", str(path), "--no-progress")


def test_models_are_the_five_kinds():
    from routing.imports_limits import KINDS

    assert set(KINDS.values()) == {Tenant, Pbx, IpSource, Carrier, Gateway}
