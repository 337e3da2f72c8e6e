"""Number portability on PostgreSQL: the loader (built and patched), the route tester, the
import command (full, delta, dry run, refusals)."""

from __future__ import annotations

import io

import pytest
from django.contrib.admin.models import LogEntry
from django.core.management import CommandError, call_command

from routing.imports import ImportFailed
from routing.imports_lnp import import_ported_numbers
from routing.loader import build_from_database, update_from_database
from routing.models import LnpRule, PortedNumber, RouteRule, RouteTarget, current_routing_version

from .conftest import saved
from .test_route_tester import run_route

pytestmark = pytest.mark.django_db

DIALLED = "sip:0612345678@x"  # Acme's PBX: 0 -> 33
NUMBER = "33612345678"
LRN = "33700000001"


@pytest.fixture
def lnp(routing_data):  # type: ignore[no-untyped-def]
    """French mobiles (336) are looked up; LRNs 337 route to Beta only."""
    mobile_lrn = saved(RouteRule(name="Mobile LRN", prefix="337"))
    saved(RouteTarget(rule=mobile_lrn, gateway=routing_data.beta1, order=0))
    saved(LnpRule(prefix="336"))
    saved(PortedNumber(number=NUMBER, lrn=LRN))
    return routing_data


def call(table, to: str = DIALLED):  # type: ignore[no-untyped-def]
    from routing.explain import explain_call

    return explain_call("10.10.0.10", "sip:0123456789@10.10.0.10", to, table=table).decision


def targets(decision) -> list[str]:  # type: ignore[no-untyped-def]
    return [route.target for route in decision.routes]


def test_the_loader_routes_a_ported_number_on_its_lrn(lnp):
    table = build_from_database()
    assert table.counts["ported_numbers"] == 1
    decision = call(table)
    assert targets(decision) == ["gateway Beta/beta-1"]
    assert decision.routes[0].uri == f"sip:{NUMBER}@192.0.2.20:5080"
    # A number that is not ported still goes by France's rule (Alpha first).
    assert targets(call(table, "sip:0698765432@x"))[0] == "gateway Alpha/alpha-1"


def test_a_carrier_that_wants_the_rn_gets_npdi_and_rn(lnp):
    lnp.beta.send_rn = True
    saved(lnp.beta)
    decision = call(build_from_database())
    assert decision.routes[0].uri == f"sip:{NUMBER};npdi;rn=+{LRN}@192.0.2.20:5080;user=phone"


def test_the_route_command_says_the_number_is_ported(lnp, capsys):
    rule = LnpRule.objects.get()
    out = run_route(capsys, "--source-ip", "10.10.0.10", "--to", DIALLED)
    assert f"Ported: {NUMBER} -> LRN {LRN} (LNP rule #{rule.pk}, global, prefix 336)" in out
    assert "Answer: 200" in out


def test_the_route_command_honours_an_npdi_in_the_request_uri(lnp, capsys):
    out = run_route(
        capsys, "--source-ip", "10.10.0.10", "--to", DIALLED,
        "--request-uri", f"sip:+{NUMBER};npdi@x;user=phone",
    )  # fmt: skip
    assert "Portability: npdi in the Request-URI (looked up upstream): not looked up" in out
    assert "Ported:" not in out


def test_a_ported_number_saved_later_reaches_the_workers_without_a_rebuild(routing_data):
    table = build_from_database()
    saved(LnpRule(prefix="336"))
    table = update_from_database(table)
    assert table is not None and targets(call(table))[0] == "gateway Alpha/alpha-1"
    mobile_lrn = saved(RouteRule(name="Mobile LRN", prefix="337"))
    saved(RouteTarget(rule=mobile_lrn, gateway=routing_data.beta1, order=0))
    saved(PortedNumber(number=NUMBER, lrn=LRN))
    table = update_from_database(table)
    assert table is not None and targets(call(table)) == ["gateway Beta/beta-1"]
    assert table.ported.overlay  # patched in, not rebuilt


def test_an_edit_in_the_admin_or_api_patches_the_ported_numbers_without_rebuilding(lnp, caplog):
    """One number saved, changed, renumbered or deleted (the admin and the API save the
    model): the workers patch an overlay over the arrays they keep, no rebuild."""
    PortedNumber.objects.create(number="33612345600", lrn=LRN)
    table = build_from_database()
    arrays = table.ported.numbers
    assert table.counts["ported_numbers"] == 2
    other = "sip:0698765432@x"  # not ported: Alpha first
    added = PortedNumber.objects.create(number="33698765432", lrn=LRN)
    with caplog.at_level("INFO", logger="c4router.loader"):
        table = update_from_database(table)
    assert table is not None and targets(call(table, other)) == ["gateway Beta/beta-1"]
    assert table.ported.numbers is arrays  # the arrays are the same: nothing rebuilt
    assert "; 1 ported number changes" in caplog.text
    assert table.counts["ported_numbers"] == 3
    # Renumbered: the old number is no longer ported, the new one is.
    added.number = "33698765433"
    added.save()
    table = update_from_database(table)
    assert table is not None and targets(call(table, other))[0] == "gateway Alpha/alpha-1"
    assert targets(call(table, "sip:0698765433@x")) == ["gateway Beta/beta-1"]
    # Deleted: the number in the arrays routes as not ported again.
    PortedNumber.objects.get(number=NUMBER).delete()
    table = update_from_database(table)
    assert table is not None and targets(call(table))[0] == "gateway Alpha/alpha-1"
    assert table.ported.numbers is arrays
    assert table.counts["ported_numbers"] == 2
    # A full build folds the overlay into new arrays, with the same answers.
    rebuilt = build_from_database()
    assert not rebuilt.ported.overlay and rebuilt.counts["ported_numbers"] == 2
    assert targets(call(rebuilt, "sip:0698765433@x")) == ["gateway Beta/beta-1"]
    assert targets(call(rebuilt))[0] == "gateway Alpha/alpha-1"


def test_a_small_delta_patches_the_workers_and_a_full_import_rebuilds(lnp):
    table = build_from_database()
    run("number,lrn\n33698765432,33700000001\n33612345678,\n", delta=True)
    patched = update_from_database(table)
    assert patched is not None and patched.ported.numbers is table.ported.numbers
    assert targets(call(patched, "sip:0698765432@x")) == ["gateway Beta/beta-1"]
    assert targets(call(patched))[0] == "gateway Alpha/alpha-1"  # removed by the delta
    run("number,lrn\n33698765432,33700000001\n")
    rebuilt = update_from_database(patched)
    assert rebuilt is not None and not rebuilt.ported.overlay
    assert rebuilt.ported.numbers is not table.ported.numbers
    assert targets(call(rebuilt, "sip:0698765432@x")) == ["gateway Beta/beta-1"]


def test_an_overlay_past_its_bound_is_folded_in_by_a_rebuild(lnp, monkeypatch):
    from routing import loader

    monkeypatch.setattr(loader, "PORTED_OVERLAY_MAX_ROWS", 1)
    table = build_from_database()
    PortedNumber.objects.create(number="33698765432", lrn=LRN)
    table = update_from_database(table)
    assert table is not None and len(table.ported.overlay) == 1
    PortedNumber.objects.create(number="33698765433", lrn=LRN)
    table = update_from_database(table)
    assert table is not None and not table.ported.overlay  # rebuilt
    assert table.counts["ported_numbers"] == 3
    assert targets(call(table, "sip:0698765433@x")) == ["gateway Beta/beta-1"]


def test_a_rule_change_patches_the_table_and_keeps_the_ported_numbers(lnp):
    table = build_from_database()
    saved(RouteRule(name="UK", prefix="44"))
    patched = update_from_database(table)
    assert patched is not None and patched.ported is table.ported
    assert targets(call(patched)) == ["gateway Beta/beta-1"]


# --- the import -------------------------------------------------------------------------------


def run(text: str, **options: object):  # type: ignore[no-untyped-def]
    return import_ported_numbers(io.StringIO(text), **options)  # type: ignore[arg-type]


def numbers() -> dict[str, str]:
    return dict(PortedNumber.objects.values_list("number", "lrn"))


def test_a_full_import_replaces_the_database_with_one_version_bump_and_one_log_entry(
    admin_user,
):
    PortedNumber.objects.create(number="12025550100", lrn="13125550000")  # not in the file
    PortedNumber.objects.create(number="12025550101", lrn="13125550000")  # its LRN changes
    PortedNumber.objects.create(number="12025550102", lrn="13125550000")  # unchanged
    before = current_routing_version()
    logs = LogEntry.objects.count()
    result = run(
        "number,lrn,effective_from\n"
        "12025550101,14155550000,\n"
        "12025550102,13125550000,\n"
        "12025550103,13125550000,2027-01-01T00:00:00Z\n",
        user=admin_user,
        filename="ported.csv",
    )
    assert (result.new, result.changed, result.removed, result.unchanged) == (1, 1, 1, 1)
    assert numbers() == {
        "12025550101": "14155550000",
        "12025550102": "13125550000",
        "12025550103": "13125550000",
    }
    assert PortedNumber.objects.get(number="12025550103").effective_from.year == 2027
    assert current_routing_version() == before + 1
    assert LogEntry.objects.count() == logs + 1
    entry = LogEntry.objects.latest("action_time")
    assert entry.user == admin_user
    assert "ported.csv: 3 rows: 1 new, 1 changed, 1 removed" in entry.change_message


def test_a_delta_changes_only_its_numbers_and_an_empty_lrn_removes_one(db):
    PortedNumber.objects.create(number="12025550100", lrn="13125550000")
    PortedNumber.objects.create(number="12025550101", lrn="13125550000")
    PortedNumber.objects.create(number="12025550102", lrn="13125550000")
    result = run(
        "number,lrn\n12025550100,\n12025550101,14155550000\n12025550199,13125550000\n",
        delta=True,
    )
    assert (result.new, result.changed, result.removed) == (1, 1, 1)
    assert numbers() == {
        "12025550101": "14155550000",
        "12025550102": "13125550000",  # not in the delta: kept
        "12025550199": "13125550000",
    }


def test_a_dry_run_counts_and_writes_nothing(db):
    PortedNumber.objects.create(number="12025550100", lrn="13125550000")
    before = current_routing_version()
    result = run("number,lrn\n12025550101,13125550000\n", dry_run=True)
    assert (result.new, result.changed, result.removed, result.dry_run) == (1, 0, 1, True)
    assert numbers() == {"12025550100": "13125550000"}
    assert current_routing_version() == before


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("number,lrn\n12025550100,13125550000\n0123,1\n", "Line 3, number: Enter an E.164"),
        ("number,lrn\n12025550100,\n", "Line 2, lrn: This field is required"),
        ("number,lrn\n12025550100,1312555000x\n", "Line 2, lrn: Enter digits only"),
        ("number,lrn,effective_from\n1202,1312,tomorrow\n", "Line 2, effective_from"),
        ("number,lrn\n1202,1312\n1202,1313\n", "Line 3, number: 1202 is on line 2"),
        ("lrn,number\n1202,1312\n", "Line 1, header"),
        ("number,lrn\n1202,1312,1,2\n", "Line 2, row"),
    ],
)
def test_a_bad_file_writes_nothing(db, text, error):
    PortedNumber.objects.create(number="12025550100", lrn="13125550000")
    before = current_routing_version()
    with pytest.raises(ImportFailed) as failed:
        run(text)
    assert error in str(failed.value)
    assert numbers() == {"12025550100": "13125550000"}
    assert current_routing_version() == before


def test_the_command_previews_then_applies(admin_user, tmp_path):
    path = tmp_path / "ported.csv"
    path.write_text("number,lrn\n12025550100,13125550000\n12025550101,13125550000\n")
    out = io.StringIO()
    call_command("import_ported_numbers", str(path), "--dry-run", stdout=out)
    assert "Would import ported numbers (full): 2 rows: 2 new, 0 changed, 0 removed" in (
        out.getvalue()
    )
    assert not PortedNumber.objects.exists()
    out = io.StringIO()
    call_command("import_ported_numbers", str(path), "--user", admin_user.username, stdout=out)
    assert "Imported ported numbers (full): 2 rows: 2 new" in out.getvalue()
    assert LogEntry.objects.get().content_type.model == "portednumber"
    assert PortedNumber.objects.count() == 2
    path.write_text("number,lrn\n12025550100,\n")
    call_command("import_ported_numbers", str(path), "--delta", stdout=io.StringIO())
    assert numbers() == {"12025550101": "13125550000"}
    path.write_text("number,lrn\nx,1\n")
    with pytest.raises(CommandError, match="nothing was imported"):
        call_command("import_ported_numbers", str(path), stdout=io.StringIO())
