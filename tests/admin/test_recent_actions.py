"""The admin's "Recent actions" and a rule's history page list every change, whichever way
it came in: the admin's forms, the API, a CSV import (admin or API) (issue 12, item 6)."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from rest_framework.test import APIClient

from routing.models import RouteRule
from tests.api import factories

pytestmark = pytest.mark.django_db


def recent_actions(admin_client) -> str:  # type: ignore[no-untyped-def]
    page = admin_client.get(reverse("admin:index")).content.decode()
    return page[page.index('id="recent-actions-module"') :]


def test_api_writes_are_recent_actions(admin_client, admin_user) -> None:  # type: ignore[no-untyped-def]
    api = APIClient()
    api.force_authenticate(admin_user)
    alpha = factories.carrier(name="Alpha")
    created = api.post(
        "/api/v1/route-rules/",
        {"prefix": "33", "name": "France", "targets": [{"carrier": alpha.pk}]},
        format="json",
    )
    assert created.status_code == 201, created.content
    url = f"/api/v1/route-rules/{created.json()['id']}/"
    assert api.patch(url, {"priority": 5}, format="json").status_code == 200
    assert api.delete(url).status_code == 204

    entries = list(LogEntry.objects.order_by("id").values_list("action_flag", "object_repr"))
    assert entries == [
        (ADDITION, "France [global]"),
        (CHANGE, "France [global]"),
        (DELETION, "France [global]"),
    ]
    assert LogEntry.objects.filter(change_message="Changed through the API.").count() == 1
    assert "France [global]" in recent_actions(admin_client)


def test_a_refused_api_write_is_not_an_action(admin_user) -> None:  # type: ignore[no-untyped-def]
    api = APIClient()
    api.force_authenticate(admin_user)
    response = api.post("/api/v1/route-rules/", {"prefix": "3x"}, format="json")
    assert response.status_code == 400
    assert not LogEntry.objects.exists()


def test_csv_imports_are_recent_actions(admin_client, admin_user) -> None:  # type: ignore[no-untyped-def]
    factories.carrier(name="Alpha")
    upload = SimpleUploadedFile("good_rules.csv", b"prefix,targets\n33,carrier:Alpha\n")
    response = admin_client.post(
        reverse("admin:routing_routerule_import_csv"), {"file": upload, "mode": "add"}
    )
    assert response.status_code == 302
    api = APIClient()
    api.force_authenticate(admin_user)
    upload = SimpleUploadedFile("more.csv", b"prefix,targets\n34,carrier:Alpha\n35,carrier:Alpha\n")
    assert api.post("/api/v1/route-rules/import/", {"file": upload}).status_code == 200
    # A check-only run writes nothing and logs nothing.
    upload = SimpleUploadedFile("check.csv", b"prefix,targets\n36,carrier:Alpha\n")
    checked = admin_client.post(
        reverse("admin:routing_routerule_import_csv"),
        {"file": upload, "mode": "add", "dry_run": "on"},
    )
    assert checked.status_code == 302

    assert list(LogEntry.objects.order_by("id").values_list("object_repr", flat=True)) == [
        "CSV import of good_rules.csv (1 route rule created)",
        "CSV import of more.csv (2 route rules created)",
    ]
    actions = recent_actions(admin_client)
    assert "CSV import of good_rules.csv" in actions and "CSV import of more.csv" in actions


def test_the_rule_history_page_shows_an_api_weight_change(admin_client, admin_user) -> None:  # type: ignore[no-untyped-def]
    api = APIClient()
    api.force_authenticate(admin_user)
    alpha = factories.carrier(name="Alpha")
    rule_id = api.post(
        "/api/v1/route-rules/",
        {"prefix": "33", "name": "France", "targets": [{"carrier": alpha.pk, "weight": 100}]},
        format="json",
    ).json()["id"]
    api.patch(
        f"/api/v1/route-rules/{rule_id}/",
        {"targets": [{"carrier": alpha.pk, "weight": 50}]},
        format="json",
    )
    page = admin_client.get(reverse("admin:routing_routerule_history", args=[rule_id]))
    html = page.content.decode()
    targets = html[html.index('id="target-history"') :]
    assert "<strong>weight:</strong> 100&nbsp;&rarr;&nbsp;50" in targets, targets[:3000]
    assert "<strong>carrier:</strong> Alpha" in targets  # named, not an id
    assert ">None<" not in " ".join(html.split()).replace("> ", ">").replace(" <", "<")
    assert RouteRule.objects.get(pk=rule_id).targets.get().weight == 50
