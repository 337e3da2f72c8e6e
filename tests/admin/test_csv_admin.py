"""CSV import and export from the admin: route rules and DIDs, all or nothing."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from routing.models import Did, RouteRule, RoutingVersion
from tests.imports.conftest import world  # noqa: F401 - the fixture

ROUTES = (
    "tenant,prefix,priority,targets\n"
    ",331,10,carrier:Alpha Telecom@0;gateway:Beta Voice/beta-1@1\n"
    "Acme,44,20,carrier:Beta Voice\n"
)


def upload(admin_client, model: str, text: str, **fields):  # type: ignore[no-untyped-def]
    url = reverse(f"admin:routing_{model}_import_csv")
    data = {"file": SimpleUploadedFile("file.csv", text.encode()), "mode": "add", **fields}
    return admin_client.post(url, data)


def test_change_lists_offer_import_and_export(admin_client, world):  # noqa: F811
    for model in ("routerule", "did"):
        page = admin_client.get(reverse(f"admin:routing_{model}_changelist")).content.decode()
        assert reverse(f"admin:routing_{model}_import_csv") in page
        assert reverse(f"admin:routing_{model}_export_csv") in page
    form = admin_client.get(reverse("admin:routing_routerule_import_csv"))
    assert form.status_code == 200 and b"gateway:CARRIER/GATEWAY" in form.content  # the format


def test_import_routes_from_the_admin_then_export_them(admin_client, world):  # noqa: F811
    version = RoutingVersion.objects.get().version
    response = upload(admin_client, "routerule", ROUTES)
    assert response.status_code == 302
    assert RouteRule.objects.count() == 2
    rule = RouteRule.objects.get(prefix="331")
    assert [(t.order, str(t.carrier or t.gateway)) for t in rule.targets.order_by("order")] == [
        (0, "Alpha Telecom"),
        (1, "Beta Voice / beta-1"),
    ]
    assert RoutingVersion.objects.get().version > version  # live in routing after the reload
    message = admin_client.get(response["Location"]).content.decode()
    assert "2 route rules were created" in message
    history = rule.history.first()
    assert history.history_user.username == "admin"
    exported = admin_client.get(reverse("admin:routing_routerule_export_csv"))
    assert exported["Content-Type"].startswith("text/csv")
    body = b"".join(exported.streaming_content if exported.streaming else [exported.content])
    assert b"331" in body and b"carrier:Alpha Telecom@0/100" in body


def test_a_bad_line_writes_nothing_and_names_line_and_field(admin_client, world):  # noqa: F811
    text = ROUTES + ",33x,10,carrier:Alpha Telecom\n"
    response = upload(admin_client, "routerule", text)
    assert response.status_code == 200
    page = response.content.decode()
    assert "nothing was imported" in page
    assert "<td>4</td><td>prefix</td><td>Enter digits only (0-9), without" in page
    assert RouteRule.objects.count() == 0


def test_check_only_writes_nothing(admin_client, world):  # noqa: F811
    response = upload(admin_client, "routerule", ROUTES, dry_run="on")
    assert response.status_code == 302 and RouteRule.objects.count() == 0
    assert "would be created" in admin_client.get(response["Location"]).content.decode()


def test_import_dids_and_export_selected(admin_client, world):  # noqa: F811
    text = "tenant,number,match,range_end,pbx\nAcme,33123456780,range,33123456789,main\n"
    assert upload(admin_client, "did", text).status_code == 302
    did = Did.objects.get()
    response = admin_client.post(
        reverse("admin:routing_did_changelist"),
        {"action": "export_selected_csv", "_selected_action": [did.pk]},
    )
    assert response["Content-Disposition"] == 'attachment; filename="dids.csv"'
    assert b"Acme,33123456780,range,33123456789,main" in response.getvalue()


def test_replacing_needs_the_delete_permission(client, world, django_user_model):  # noqa: F811
    from django.contrib.auth.models import Permission

    clerk = django_user_model.objects.create_user("clerk", password="pw-clerk-123", is_staff=True)
    clerk.user_permissions.set(
        Permission.objects.filter(codename__in=["add_routerule", "view_routerule"])
    )
    client.force_login(clerk)
    assert upload(client, "routerule", ROUTES, mode="replace").status_code == 403
    assert upload(client, "routerule", ROUTES).status_code == 302


# --- The import page as an operator reads it (issue 12, item 4) --------------------------------

INTERNAL = ("MAX_ERRORS", "COPY", "bulk_create", "row lock", "Services without HTTP", "pickle")


def test_the_import_pages_describe_their_own_file_and_nothing_internal(admin_client, world):  # noqa: F811
    rules = admin_client.get(reverse("admin:routing_routerule_import_csv")).content.decode()
    dids = admin_client.get(reverse("admin:routing_did_import_csv")).content.decode()
    for page in (rules, dids):
        assert not [word for word in INTERNAL if word in page]
        assert 'id="csv-example"' in page
    assert "reject_reason" in rules and "range_end" not in rules
    assert "range_end" in dids and "targets" not in dids


def test_messages_keep_the_file_name_and_count_in_the_singular(admin_client, world):  # noqa: F811
    upload_file = SimpleUploadedFile(
        "Good_rules.csv", b"prefix,targets\n33,carrier:Alpha Telecom\n"
    )
    response = admin_client.post(
        reverse("admin:routing_routerule_import_csv"), {"file": upload_file, "mode": "add"}
    )
    message = admin_client.get(response["Location"]).content.decode()
    assert "Imported “Good_rules.csv”: 1 route rule was created." in message


# --- ported numbers: preview, then apply ----------------------------------------------------


def test_ported_numbers_upload_previews_then_applies_and_exports(admin_client, db):
    from django.contrib.admin.models import LogEntry

    from routing.models import PortedNumber

    PortedNumber.objects.create(number="12025550100", lrn="13125550000")
    changelist = admin_client.get(reverse("admin:routing_portednumber_changelist")).content
    assert reverse("admin:routing_portednumber_import_csv").encode() in changelist
    page = admin_client.get(reverse("admin:routing_portednumber_import_csv")).content.decode()
    assert "effective_from" in page and "Preview only" in page
    assert not [word for word in INTERNAL if word in page]
    text = "number,lrn\n12025550101,14155550000\n"
    url = reverse("admin:routing_portednumber_import_csv")
    preview = admin_client.post(
        url, {"file": SimpleUploadedFile("ported.csv", text.encode()), "mode": "full",
              "dry_run": "on"},
    )  # fmt: skip
    message = admin_client.get(preview["Location"]).content.decode()
    assert "Preview of “ported.csv” (full): 1 rows: 1 new, 0 changed, 1 removed" in message
    assert PortedNumber.objects.count() == 1  # nothing written
    applied = admin_client.post(
        url, {"file": SimpleUploadedFile("ported.csv", text.encode()), "mode": "full"}
    )
    message = admin_client.get(applied["Location"]).content.decode()
    assert "Imported “ported.csv” (full): 1 rows: 1 new, 0 changed, 1 removed" in message
    assert list(PortedNumber.objects.values_list("number", "lrn")) == [
        ("12025550101", "14155550000")
    ]
    assert "“ported.csv” (admin)" in LogEntry.objects.latest("action_time").change_message
    exported = admin_client.get(reverse("admin:routing_portednumber_export_csv"))
    assert b"".join(exported.streaming_content) == (
        b"number,lrn,effective_from\n12025550101,14155550000,\n"
    )


def test_a_bad_ported_numbers_file_lists_its_errors_and_writes_nothing(admin_client, db):
    from routing.models import PortedNumber

    text = "number,lrn\n12025550101,14155550000\n12025550101,14155550001\n"
    response = admin_client.post(
        reverse("admin:routing_portednumber_import_csv"),
        {"file": SimpleUploadedFile("p.csv", text.encode()), "mode": "delta"},
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "nothing was imported" in page
    assert "<td>3</td><td>number</td><td>12025550101 is on line 2 already.</td>" in page
    assert not PortedNumber.objects.exists()
