"""A rate deck import as an operator does it in the browser: the deck's page -> Import
rates -> choose the file -> Preview (counts and samples, nothing changed) -> Apply."""

from __future__ import annotations

import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from routing.models import Carrier, Rate, RateDeck
from tests.browser.driver import Browser

pytestmark = pytest.mark.browser
PAST = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


@pytest.fixture
def deck(browser_db: None) -> RateDeck:
    deck = RateDeck.objects.create(
        name="Alpha buy", carrier=Carrier.objects.create(name="Alpha Telecom"), currency="EUR"
    )
    Rate.objects.create(deck=deck, prefix="33", rate=Decimal("0.01"), effective_from=PAST)
    Rate.objects.create(deck=deck, prefix="44", rate=Decimal("0.02"), effective_from=PAST)
    return deck


def test_upload_preview_apply(admin_browser: Browser, deck: RateDeck, tmp_path: Path) -> None:
    browser = admin_browser
    browser.go(f"/admin/routing/ratedeck/{deck.pk}/change/")
    link = browser.find("#import-rates-link")  # among the page's tools, by History
    assert link.text.lower() == "import rates"
    with browser.navigation("the import page"):
        link.click()
    assert browser.title.startswith("Import rates into Alpha buy")
    bad = tmp_path / "bad.csv"
    bad.write_text("prefix;rate\n33;0,012\n", encoding="utf-8")
    browser.find("#id_file").send_keys(str(bad))
    browser.submit("#preview-rates")
    assert "Line 2" not in browser.text(".errornote")  # the table names it
    assert browser.table("#import-errors")[1:] == [
        ["2", "rate", "“0,012” has a decimal comma: write 0.012 (a decimal point)."]
    ]
    assert not browser.exists("#apply-rates")

    good = tmp_path / "vendor-2026-12.csv"
    good.write_text("prefix,rate\n+33,0.012\n44,0.02\n336,0.05\n", encoding="utf-8")
    browser.find("#id_file").send_keys(str(good))
    browser.submit("#preview-rates")
    preview = browser.text("#rate-preview")
    assert "Preview of “vendor-2026-12.csv” (full) against Alpha buy (EUR)" in preview
    counts = {row[0]: row[1] for row in browser.table("#rate-preview-counts")[1:]}
    assert counts == {
        "New": "1", "Increased": "1", "Decreased": "0", "Unchanged": "1",
        "Same rate, other terms changed": "0", "Removed": "0",
    }  # fmt: skip
    assert "33: 0.01 → 0.012 (line 2)" in browser.text("#preview-increased")
    assert Rate.objects.filter(deck=deck).count() == 2  # nothing written yet

    browser.submit("#apply-rates")
    assert browser.path == f"/admin/routing/ratedeck/{deck.pk}/change/"
    assert "Imported “vendor-2026-12.csv” (full) into Alpha buy" in browser.text(".messagelist")
    live = Rate.objects.filter(deck=deck, effective_until=None)
    assert sorted((r.prefix, r.rate) for r in live) == [
        ("33", Decimal("0.012")), ("336", Decimal("0.05")), ("44", Decimal("0.02"))
    ]  # fmt: skip


def test_export_then_import_the_downloaded_file_changes_nothing(
    admin_browser: Browser, deck: RateDeck, tmp_path: Path
) -> None:
    """The operator's round trip: "Export rates" on the deck's page downloads the deck in
    effect (Chromium saves it), and that file, uploaded back, previews as all unchanged."""
    browser = admin_browser
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    browser.driver.execute_cdp_cmd(
        "Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
    )
    browser.go(f"/admin/routing/ratedeck/{deck.pk}/change/")
    link = browser.find("#export-rates-link")
    assert link.text.lower() == "export rates"
    link.click()
    saved = downloads / f"rates-{deck.pk}.csv"
    browser.wait(lambda _: saved.exists(), "the downloaded rates")
    assert saved.read_text(encoding="utf-8").splitlines()[1:] == [
        "33,0.01,0,1,1,",
        "44,0.02,0,1,1,",
    ]
    browser.go(f"/admin/routing/ratedeck/{deck.pk}/change/")
    with browser.navigation("the import page"):
        browser.find("#import-rates-link").click()
    browser.find("#id_file").send_keys(str(saved))
    browser.submit("#preview-rates")
    counts = {row[0]: row[1] for row in browser.table("#rate-preview-counts")[1:]}
    assert counts == {
        "New": "0", "Increased": "0", "Decreased": "0", "Unchanged": "2",
        "Same rate, other terms changed": "0", "Removed": "0",
    }  # fmt: skip


def test_a_delta_from_the_page(admin_browser: Browser, deck: RateDeck, tmp_path: Path) -> None:
    """Delta chosen on the upload: the preview says so and counts no removed prefix; the
    apply imports it as a delta (44, not in the file, stays as it was)."""
    browser = admin_browser
    browser.go(f"/admin/routing/ratedeck/{deck.pk}/import-rates/")
    assert browser.find("#id_mode_0").is_selected()  # full, as before
    delta = tmp_path / "delta.csv"
    delta.write_text("prefix,rate\n33,0.02\n", encoding="utf-8")
    browser.find("#id_file").send_keys(str(delta))
    browser.find("#id_mode_1").click()
    browser.submit("#preview-rates")
    assert "Preview of “delta.csv” (delta) against Alpha buy" in browser.text("#rate-preview")
    assert "Delta: only the file's prefixes change" in browser.text("#rate-preview-mode")
    kinds = [row[0] for row in browser.table("#rate-preview-counts")[1:]]
    assert "Removed" not in kinds and "Increased" in kinds
    browser.submit("#apply-rates")
    assert "Imported “delta.csv” (delta) into Alpha buy" in browser.text(".messagelist")
    assert Rate.objects.get(deck=deck, prefix="44").effective_until is None
