"""The capacity-limits CSV page as an operator uses it in the browser: from a tenant's
Capacity section to the page, a file checked only, then imported, then the limits
downloaded."""

from __future__ import annotations

from pathlib import Path

import pytest

from routing.models import Tenant
from tests.browser.driver import Browser

pytestmark = pytest.mark.browser
HEADER = "kind,name,max_calls,max_cps"


def test_check_import_and_download_the_limits(admin_browser: Browser, tmp_path: Path) -> None:
    browser = admin_browser
    acme = Tenant.objects.create(name="Acme")
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    browser.driver.execute_cdp_cmd(
        "Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
    )
    browser.go(f"/admin/routing/tenant/{acme.pk}/change/")
    for summary in browser.find_all("fieldset.collapse summary"):  # the Capacity section
        if "Capacity" in summary.text:
            summary.click()
    with browser.navigation("the capacity-limits page"):
        browser.click_link("All limits in one CSV file")
    assert browser.path == "/admin/capacity-limits/"

    upload = tmp_path / "limits.csv"
    upload.write_text(f"{HEADER}\ntenant,Acme,100,10\n", encoding="utf-8")
    browser.find("#id_file").send_keys(str(upload))
    browser.find("#id_dry_run").click()
    browser.submit("#limits-import input[type=submit]")
    assert "Checked “limits.csv”: the limits of 1 object would change" in browser.text(
        ".messagelist"
    )
    acme.refresh_from_db()
    assert (acme.max_calls, acme.max_cps) == (None, None)

    browser.go("/admin/capacity-limits/")  # the page again, as after a look at the file
    browser.find("#id_file").send_keys(str(upload))
    browser.submit("#limits-import input[type=submit]")
    assert "Imported “limits.csv”: the limits of 1 object was changed" in browser.text(
        ".messagelist"
    )
    acme.refresh_from_db()
    assert (acme.max_calls, acme.max_cps) == (100, 10)

    browser.find("#limits-export-limited").click()
    saved = downloads / "capacity-limits.csv"
    browser.wait(lambda _: saved.exists(), "the downloaded limits")
    assert saved.read_text(encoding="utf-8").splitlines() == [HEADER, "tenant,Acme,100,10"]
