"""The admin's capacity-limits CSV page (routing.admin_limits): reachable from the index and
from each Capacity section, export, import with "check only", errors by line, permissions."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from routing.models import Carrier, Tenant
from tests.imports.conftest import world  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db

HEADER = "kind,name,max_calls,max_cps\n"


def post(client, text: str, **fields):  # type: ignore[no-untyped-def]
    data = {"file": SimpleUploadedFile("limits.csv", text.encode()), **fields}
    return client.post(reverse("capacity-limits"), data, follow=True)


def test_the_page_is_linked_from_the_index_and_the_capacity_sections(admin_client, world):  # noqa: F811
    url = reverse("capacity-limits")
    assert url in admin_client.get(reverse("admin:index")).content.decode()
    change = reverse("admin:routing_tenant_change", args=[world["acme"].pk])
    assert url in admin_client.get(change).content.decode()
    page = admin_client.get(url)
    assert page.status_code == 200
    text = page.content.decode()
    assert "TENANT/PBX" in text and reverse("capacity-limits-export") in text
    example = admin_client.get(reverse("capacity-limits-example"))
    assert example.content.decode().startswith(HEADER)


def test_import_check_only_then_for_real_then_export(admin_client, world):  # noqa: F811
    text = HEADER + "tenant,Acme,100,10\ngateway,Beta Voice/beta-1,,3\n"
    page = post(admin_client, text, dry_run="on")
    assert "Checked “limits.csv”: the limits of 2 objects would change" in page.content.decode()
    assert Tenant.objects.get(name="Acme").max_calls is None
    page = post(admin_client, text)
    assert "Imported “limits.csv”: the limits of 2 objects were changed" in page.content.decode()
    assert Tenant.objects.get(name="Acme").max_cps == 10
    export = admin_client.get(reverse("capacity-limits-export") + "?limited_only=1")
    body = b"".join(export.streaming_content).decode()
    assert body == HEADER + "tenant,Acme,100,10\ngateway,Beta Voice/beta-1,,3\n"


def test_a_bad_file_lists_its_lines_and_writes_nothing(admin_client, world):  # noqa: F811
    page = post(admin_client, HEADER + "tenant,Acme,100,\ncarrier,Gamma,1,\n")
    text = page.content.decode()
    assert "1 error in the file; nothing was imported." in text
    assert "There is no carrier named &#x27;Gamma&#x27;" in text
    assert Tenant.objects.get(name="Acme").max_calls is None


def test_permissions(client, world, django_user_model):  # noqa: F811
    user = django_user_model.objects.create_user("ops", password="pw", is_staff=True)
    client.force_login(user)
    assert client.get(reverse("capacity-limits")).status_code == 403
    user.user_permissions.set(
        Permission.objects.filter(codename__in=["view_tenant", "view_carrier"])
    )
    page = client.get(reverse("capacity-limits"))
    assert page.status_code == 200 and b'id="limits-import"' not in page.content
    assert post(client, HEADER + "tenant,Acme,1,\n").status_code == 403
    user.user_permissions.add(Permission.objects.get(codename="change_tenant"))
    page = post(client, HEADER + "tenant,Acme,1,\ncarrier,Alpha Telecom,1,\n")
    assert "You may not change the limits of carriers" in page.content.decode()
    assert Carrier.objects.get(name="Alpha Telecom").max_calls is None
    post(client, HEADER + "tenant,Acme,1,\n")
    assert Tenant.objects.get(name="Acme").max_calls == 1


def test_an_import_appears_in_recent_actions(admin_client, world):  # noqa: F811
    from django.contrib.admin.models import LogEntry

    post(admin_client, HEADER + "tenant,Acme,1,\ngateway,Beta Voice/beta-1,2,\n")
    messages = sorted(LogEntry.objects.values_list("change_message", flat=True))
    assert messages == [
        "admin import of limits.csv: limits of 1 gateway changed.",
        "admin import of limits.csv: limits of 1 tenant changed.",
    ]
