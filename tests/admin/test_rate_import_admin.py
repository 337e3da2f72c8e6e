"""The rate deck's "Import rates" pages: upload -> preview (nothing written) -> apply."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from routing.admin_rates import spool_dir
from routing.models import Rate, RateDeck
from tests.api import factories

pytestmark = pytest.mark.django_db
PAST = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


@pytest.fixture
def deck() -> RateDeck:
    deck = RateDeck.objects.create(name="Alpha buy", carrier=factories.carrier(name="Alpha"))
    Rate.objects.create(deck=deck, prefix="33", rate=Decimal("0.01"), effective_from=PAST)
    Rate.objects.create(deck=deck, prefix="44", rate=Decimal("0.02"), effective_from=PAST)
    return deck


def upload(text: str) -> SimpleUploadedFile:
    return SimpleUploadedFile("vendor.csv", text.encode())


def test_upload_preview_apply(admin_client: Client, deck: RateDeck) -> None:
    page = admin_client.get(f"/admin/routing/ratedeck/{deck.pk}/change/")
    assert b'id="import-rates-link"' in page.content
    url = f"/admin/routing/ratedeck/{deck.pk}/import-rates/"
    response = admin_client.post(url, {"file": upload("prefix,rate\n+33,0.02\n336,0.5\n")})
    assert response.status_code == 200
    text = response.content.decode()
    assert "Preview of “vendor.csv” (full) against Alpha buy" in text
    assert '<tr id="preview-increased"><td>Increased</td><td class="count">1</td>' in text
    assert "33: 0.01 → 0.02 (line 2)" in text
    assert "44: 0.02 → -" in text  # removed
    assert Rate.objects.filter(effective_until__isnull=False).count() == 0  # nothing yet
    token = response.context["token"]
    assert (spool_dir() / f"{token}.csv").exists()
    response = admin_client.post(f"{url}apply/", {"token": token})
    assert response.status_code == 302
    assert response["Location"] == f"/admin/routing/ratedeck/{deck.pk}/change/"
    assert Rate.objects.filter(effective_until__isnull=False).count() == 2  # 33 and 44 end
    assert set(Rate.objects.filter(effective_until=None).values_list("prefix", flat=True)) == {
        "33", "336"
    }  # fmt: skip
    assert not (spool_dir() / f"{token}.csv").exists()
    followed = admin_client.get(response["Location"])
    assert "Imported “vendor.csv” (full) into Alpha buy" in followed.content.decode()
    # The token was used: a second apply is refused, nothing changes.
    again = admin_client.post(f"{url}apply/", {"token": token}, follow=True)
    assert "no longer available" in again.content.decode()


def test_a_bad_file_lists_its_lines_and_offers_no_apply(
    admin_client: Client, deck: RateDeck
) -> None:
    url = f"/admin/routing/ratedeck/{deck.pk}/import-rates/"
    response = admin_client.post(url, {"file": upload("prefix,rate\n33,0.1\n+33,0,2\n")})
    text = response.content.decode()
    assert "nothing was imported" in text
    assert "Expected 2 cells as in the header, found 3." in text
    assert 'id="apply-rates"' not in text


def test_a_viewer_cannot_reach_the_import(
    client: Client, deck: RateDeck, django_user_model: Any
) -> None:
    user = django_user_model.objects.create_user("viewer", password="x", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(codename__in=["view_ratedeck", "view_rate"])
    )
    client.force_login(user)
    response = client.get(f"/admin/routing/ratedeck/{deck.pk}/import-rates/")
    assert response.status_code == 403


def test_export_rates_from_the_decks_page(
    admin_client: Client, client: Client, deck: RateDeck, django_user_model: Any
) -> None:
    """ "Export rates" downloads the deck in effect in the import format; a viewer of decks
    without the rates' view permission gets a 403."""
    page = admin_client.get(f"/admin/routing/ratedeck/{deck.pk}/change/")
    assert b'id="export-rates-link"' in page.content
    url = f"/admin/routing/ratedeck/{deck.pk}/export-rates/"
    response = admin_client.get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content).decode().splitlines()[1:] == [
        "33,0.01,0,1,1,",
        "44,0.02,0,1,1,",
    ]
    user = django_user_model.objects.create_user("decks", password="x", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename="view_ratedeck"))
    client.force_login(user)
    assert client.get(url).status_code == 403


def test_a_delta_is_previewed_as_one_and_applied_as_one(
    admin_client: Client, deck: RateDeck
) -> None:
    """The mode chosen on the upload is shown on the preview and carried, with the file, to
    the apply: 44 (not in the file) is neither "removed" in the preview nor ended."""
    url = f"/admin/routing/ratedeck/{deck.pk}/import-rates/"
    form = admin_client.get(url).content.decode()
    assert 'name="mode" value="full"' in form and 'name="mode" value="delta"' in form
    day = (timezone.now() + datetime.timedelta(days=5)).date()
    text = f"prefix,rate,effective_from\n+33,0.02,{day}\n336,0.5,\n"
    response = admin_client.post(url, {"file": upload(text), "mode": "delta"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "Preview of “vendor.csv” (delta) against Alpha buy" in page
    assert "Delta: only the file's prefixes change" in page
    assert 'id="preview-removed"' not in page
    assert f"33: 0.01 → 0.02 (line 2, from {day.isoformat()} 00:00)" in page
    token = response.context["token"]
    response = admin_client.post(f"{url}apply/", {"token": token, "mode": "full"})
    assert response.status_code == 302
    followed = admin_client.get(response["Location"]).content.decode()
    assert "Imported “vendor.csv” (delta) into Alpha buy" in followed
    assert Rate.objects.get(deck=deck, prefix="44").effective_until is None
    assert Rate.objects.get(deck=deck, prefix="33", rate=Decimal("0.01")).effective_until == (
        datetime.datetime.combine(day, datetime.time(), tzinfo=datetime.UTC)
    )


def test_a_full_import_from_the_page_still_removes(admin_client: Client, deck: RateDeck) -> None:
    url = f"/admin/routing/ratedeck/{deck.pk}/import-rates/"
    response = admin_client.post(url, {"file": upload("prefix,rate\n33,0.02\n"), "mode": "full"})
    page = response.content.decode()
    assert "Preview of “vendor.csv” (full) against" in page
    assert '<tr id="preview-removed"><td>Removed</td><td class="count">1</td>' in page
    admin_client.post(f"{url}apply/", {"token": response.context["token"]})
    assert Rate.objects.get(deck=deck, prefix="44").effective_until is not None
