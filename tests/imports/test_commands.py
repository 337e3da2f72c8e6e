"""The import/export commands: thin wrappers, tested through call_command."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from routing.models import Did, RouteRule, current_routing_version

pytestmark = pytest.mark.django_db


def test_import_routes(world: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "routes.csv"
    path.write_text(
        "\ufeffprefix,targets\n33,carrier:Alpha Telecom\n34,carrier:Alpha Telecom\n",
        encoding="utf-8",
    )
    out = io.StringIO()
    version = current_routing_version()
    call_command("import_routes", str(path), stdout=out)
    assert out.getvalue().strip() == "Imported 2 rules with 2 targets."
    assert RouteRule.objects.count() == 2
    assert current_routing_version() == version + 1
    record = RouteRule.history.first()
    assert record.history_change_reason == f"import of {path}"[:100]
    assert record.history_user is None


def test_import_routes_replace_and_dry_run(world: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "routes.csv"
    path.write_text("prefix,action,reject_code,reject_reason\n33,reject,480,Closed\n")
    call_command("import_routes", str(path), stdout=io.StringIO())
    out = io.StringIO()
    call_command("import_routes", str(path), "--replace", "--dry-run", stdout=out)
    assert "Would import 1 rules with 0 targets, after deleting 1. (dry run" in out.getvalue()
    call_command("import_routes", str(path), "--replace", stdout=io.StringIO())
    assert RouteRule.objects.count() == 1
    call_command("import_routes", str(path), "--replace-scope", stdout=io.StringIO())
    assert RouteRule.objects.count() == 1
    with pytest.raises(CommandError, match="already exists"):
        call_command("import_routes", str(path), stdout=io.StringIO())


def test_import_errors_name_line_and_field(world: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "routes.csv"
    path.write_text("prefix,targets\n33,carrier:Alpha Telecom\n3x,\n35,carrier:Nobody\n")
    with pytest.raises(CommandError) as info:
        call_command("import_routes", str(path), stdout=io.StringIO())
    message = str(info.value)
    assert message.startswith("2 errors in the file; nothing was imported.")
    assert "Line 3, prefix: Enter digits only" in message
    assert "Line 4, targets: 'carrier:Nobody': there is no carrier named 'Nobody'." in message
    assert not RouteRule.objects.exists()


def test_missing_or_binary_file(world: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("import_dids", str(tmp_path / "nope.csv"))
    path = tmp_path / "binary.csv"
    path.write_bytes(b"prefix\n\xff\xfe\n")
    with pytest.raises(CommandError, match="not UTF-8"):
        call_command("import_routes", str(path))


def test_import_and_export_dids(world: dict[str, Any], tmp_path: Path) -> None:
    source = tmp_path / "dids.csv"
    source.write_text("tenant,number,pbx\nAcme,33123,main\n")
    out = io.StringIO()
    call_command("import_dids", str(source), stdout=out)
    assert out.getvalue().strip() == "Imported 1 DIDs."
    assert Did.objects.count() == 1

    target = tmp_path / "export.csv"
    err = io.StringIO()
    call_command("export_dids", str(target), stderr=err)
    assert target.read_text() == (
        "tenant,number,match,range_end,pbx,description,enabled\nAcme,33123,exact,,main,,true\n"
    )
    assert "Exported 1 DIDs" in err.getvalue()
    stdout = io.StringIO()
    call_command("export_dids", stdout=stdout)
    assert stdout.getvalue() == target.read_text()


def test_export_routes_round_trips_through_import(world: dict[str, Any], tmp_path: Path) -> None:
    source = tmp_path / "routes.csv"
    source.write_text(
        "tenant,prefix,targets\n"
        "Acme,33,carrier:Alpha Telecom@0/10;gateway:Beta Voice/beta-1@1/20\n"
        ",,carrier:Beta Voice\n"
    )
    call_command("import_routes", str(source), stdout=io.StringIO())
    exported = tmp_path / "exported.csv"
    call_command("export_routes", str(exported), stderr=io.StringIO())
    call_command("import_routes", str(exported), "--replace-scope", stdout=io.StringIO())
    again = tmp_path / "again.csv"
    call_command("export_routes", str(again), stderr=io.StringIO())
    assert again.read_text() == exported.read_text()
    assert RouteRule.objects.count() == 2
