"""The import pages' example files import as they are into the demo data (issue 12, item 4).
(A module of its own: the demo data is loaded once per module, and the CSV admin tests use
another data set.)"""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from routing.models import RouteRule


def test_the_example_files_import_as_they_are(admin_client, demo):  # type: ignore[no-untyped-def]
    for model, created in (("routerule", 4), ("did", 3)):
        example = admin_client.get(reverse(f"admin:routing_{model}_import_csv_example"))
        assert example["Content-Type"].startswith("text/csv")
        assert "attachment" in example["Content-Disposition"]
        upload_file = SimpleUploadedFile(f"example-{model}.csv", example.content)
        response = admin_client.post(
            reverse(f"admin:routing_{model}_import_csv"), {"file": upload_file, "mode": "add"}
        )
        assert response.status_code == 302, response.content.decode()[-3000:]
        message = admin_client.get(response["Location"]).content.decode()
        assert f"Imported “example-{model}.csv”: {created} " in message
    block = RouteRule.objects.get(prefix="3389")
    assert (block.action, block.reject_code) == ("reject", 403)
