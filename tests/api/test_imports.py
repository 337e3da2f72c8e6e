"""The CSV endpoints: POST .../import/ and GET .../export/ call the import services."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from routing.models import Did, RouteRule
from tests.api import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def alpha() -> Any:
    return factories.carrier(name="Alpha Telecom")


def upload(text: str | bytes, name: str = "routes.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode() if isinstance(text, str) else text)


def test_import_routes(api_client: APIClient, alpha: Any, admin_user: Any) -> None:
    response = api_client.post(
        "/api/v1/route-rules/import/",
        {"file": upload("prefix,targets\n33,carrier:Alpha Telecom\n")},
    )
    assert response.status_code == 200, response.json()
    assert response.json() == {"created": 1, "targets_created": 1, "deleted": 0, "dry_run": False}
    record = RouteRule.history.get()
    assert record.history_user == admin_user
    assert record.history_change_reason == "API import of routes.csv"


def test_import_errors_name_line_and_field(api_client: APIClient, alpha: Any) -> None:
    response = api_client.post(
        "/api/v1/route-rules/import/",
        {"file": upload("prefix,targets\n33,carrier:Alpha Telecom\n3x,\n")},
    )
    assert response.status_code == 400
    assert response.json() == {
        "detail": "1 error in the file; nothing was imported.",
        "errors": [
            {
                "line": 3,
                "field": "prefix",
                "message": "Enter digits only (0-9), without '+', spaces or dashes.",
            }
        ],
    }
    assert not RouteRule.objects.exists()


def test_import_replace_and_dry_run(api_client: APIClient, alpha: Any) -> None:
    factories.route_rule(prefix="33")
    response = api_client.post(
        "/api/v1/route-rules/import/",
        {
            "file": upload("prefix,action,reject_code,reject_reason\n33,reject,480,Closed\n"),
            "mode": "replace",
            "dry_run": "true",
        },
    )
    assert response.json() == {"created": 1, "targets_created": 0, "deleted": 1, "dry_run": True}
    assert RouteRule.objects.count() == 1


def test_import_refuses_a_binary_file(api_client: APIClient) -> None:
    response = api_client.post(
        "/api/v1/dids/import/", {"file": upload(b"\x89PNG\r\n\x1a\n\x00\xff", "x.csv")}
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["message"] == "The file is not UTF-8 text."


def test_import_without_a_file(api_client: APIClient) -> None:
    response = api_client.post("/api/v1/dids/import/", {})
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"line": None, "field": "file", "message": "No file was submitted."}
    ]


def test_import_and_export_dids(api_client: APIClient) -> None:
    pbx = factories.pbx(name="main", tenant=factories.tenant(name="Acme"))
    response = api_client.post(
        "/api/v1/dids/import/", {"file": upload("tenant,number,pbx\nAcme,33123,main\n")}
    )
    assert response.status_code == 200, response.json()
    assert Did.objects.get().pbx == pbx
    exported = api_client.get("/api/v1/dids/export/")
    assert exported.status_code == 200
    assert exported["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="dids.csv"' in exported["Content-Disposition"]
    assert exported.getvalue().decode().splitlines()[1] == "Acme,33123,exact,,main,,true"


def test_export_routes(api_client: APIClient, alpha: Any) -> None:
    factories.route_rule(prefix="33", targets=[alpha])
    exported = api_client.get("/api/v1/route-rules/export/").getvalue().decode().splitlines()
    assert exported[1].split(",")[2] == "33"
    assert "carrier:Alpha Telecom@0/100" in exported[1]


def test_import_and_export_number_list_entries(api_client: APIClient) -> None:
    factories.number_list(name="Fraud")
    response = api_client.post(
        "/api/v1/number-list-entries/import/",
        {"file": upload("list,number,match,comment\nFraud,3389,prefix,premium rate\n")},
    )
    assert response.status_code == 200, response.json()
    assert response.json()["created"] == 1
    response = api_client.get("/api/v1/number-list-entries/export/")
    assert response.getvalue().decode().splitlines() == [
        "list,number,match,range_end,comment",
        "Fraud,3389,prefix,,premium rate",
    ]


# --- ported numbers: full or delta, preview (dry_run) then apply ------------------------------

PORTED_FILE = "number,lrn,effective_from\n12025550101,14155550000,\n12025550103,13125550000,\n"


def test_import_ported_numbers_preview_then_apply(api_client: APIClient, admin_user: Any) -> None:
    from django.contrib.admin.models import LogEntry

    from routing.models import PortedNumber

    PortedNumber.objects.create(number="12025550100", lrn="13125550000")  # not in the file
    PortedNumber.objects.create(number="12025550101", lrn="13125550000")  # its LRN changes
    url = "/api/v1/ported-numbers/import/"
    preview = api_client.post(url, {"file": upload(PORTED_FILE), "dry_run": "true"})
    assert preview.status_code == 200, preview.json()
    assert preview.json() == {
        "rows": 2, "new": 1, "changed": 1, "removed": 1, "unchanged": 0,
        "dry_run": True, "delta": False,
    }  # fmt: skip
    assert PortedNumber.objects.count() == 2  # nothing written
    applied = api_client.post(url, {"file": upload(PORTED_FILE, "ported.csv"), "mode": "full"})
    assert applied.json()["dry_run"] is False and applied.json()["removed"] == 1
    assert dict(PortedNumber.objects.values_list("number", "lrn")) == {
        "12025550101": "14155550000",
        "12025550103": "13125550000",
    }
    entry = LogEntry.objects.latest("action_time")
    assert entry.user == admin_user and "ported.csv (API)" in entry.change_message
    delta = api_client.post(
        url, {"file": upload("number,lrn\n12025550103,\n"), "mode": "delta"}
    ).json()
    assert (delta["removed"], delta["delta"]) == (1, True)
    assert list(PortedNumber.objects.values_list("number", flat=True)) == ["12025550101"]
    exported = api_client.get("/api/v1/ported-numbers/export/")
    body = b"".join(exported.streaming_content).decode()
    assert body == "number,lrn,effective_from\n12025550101,14155550000,\n"


def test_import_ported_numbers_refuses_a_bad_file_whole(api_client: APIClient) -> None:
    from routing.models import PortedNumber

    response = api_client.post(
        "/api/v1/ported-numbers/import/",
        {"file": upload("number,lrn\n12025550101,14155550000\n0123,1\n")},
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["line"] == 3
    assert response.json()["errors"][0]["field"] == "number"
    assert not PortedNumber.objects.exists()
    binary = api_client.post(
        "/api/v1/ported-numbers/import/", {"file": upload(b"number,lrn\n\xff\xfe\n", "x.csv")}
    )
    assert binary.status_code == 400
    assert binary.json()["errors"][0]["message"] == "The file is not UTF-8 text."
    bad_mode = api_client.post(
        "/api/v1/ported-numbers/import/", {"file": upload(PORTED_FILE), "mode": "add"}
    )
    assert bad_mode.status_code == 400 and bad_mode.json()["errors"][0]["field"] == "mode"


def test_import_ported_numbers_is_size_limited(api_client: APIClient, settings: Any) -> None:
    settings.C4ROUTER = {**settings.C4ROUTER, "IMPORT_MAX_BYTES": 1024}
    big = "number,lrn\n" + "".join(f"1202555{i:04d},13125550000\n" for i in range(100))
    response = api_client.post("/api/v1/ported-numbers/import/", {"file": upload(big)})
    assert response.status_code == 413
    assert "at most 1,024" in response.json()["errors"][0]["message"]


def test_applying_a_ported_import_needs_change_and_delete(django_user_model: Any) -> None:
    from django.contrib.auth.models import Permission

    clerk = django_user_model.objects.create_user("clerk", password="pw-clerk-123")
    clerk.user_permissions.set(
        Permission.objects.filter(codename__in=["add_portednumber", "view_portednumber"])
    )
    client = APIClient()
    client.force_authenticate(clerk)
    url = "/api/v1/ported-numbers/import/"
    assert client.post(url, {"file": upload(PORTED_FILE), "dry_run": "true"}).status_code == 200
    assert client.post(url, {"file": upload(PORTED_FILE)}).status_code == 403
