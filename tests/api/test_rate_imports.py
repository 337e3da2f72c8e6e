"""POST /api/v1/rate-decks/{id}/import/: a preview answer, then an apply, all or nothing."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from rest_framework.test import APIClient

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
    return SimpleUploadedFile("deck.csv", text.encode())


def url(deck: RateDeck) -> str:
    return f"/api/v1/rate-decks/{deck.pk}/import/"


def test_preview_then_apply(api_client: APIClient, deck: RateDeck, admin_user: Any) -> None:
    text = "prefix,rate\n+33,0.015\n49,0.03\n"
    response = api_client.post(url(deck), {"file": upload(text), "preview": "true"})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["preview"] is True
    assert body["counts"] == {
        "new": 1, "increased": 1, "decreased": 0, "unchanged": 0, "terms": 0, "removed": 1
    }  # fmt: skip
    assert body["samples"]["increased"] == [
        {"prefix": "33", "old": "0.01", "new": "0.015", "line": 2, "effective_from": None}
    ]
    assert body["samples"]["removed"] == [
        {"prefix": "44", "old": "0.02", "new": None, "line": None, "effective_from": None}
    ]
    assert Rate.objects.count() == 2
    when = timezone.now() + datetime.timedelta(days=1)
    response = api_client.post(
        url(deck), {"file": upload(text), "effective_from": when.isoformat()}
    )
    assert response.status_code == 200, response.json()
    assert (response.json()["created"], response.json()["ended"]) == (2, 2)
    assert Rate.objects.filter(effective_from=when).count() == 2
    assert Rate.objects.filter(effective_until=when).count() == 2
    record = Rate.history.filter(history_type="+").latest("history_date")
    assert record.history_user == admin_user


def test_a_bad_line_is_named_and_nothing_changes(api_client: APIClient, deck: RateDeck) -> None:
    response = api_client.post(url(deck), {"file": upload("prefix;rate\n33;0,015\n")})
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {
            "line": 2,
            "field": "rate",
            "message": "“0,015” has a decimal comma: write 0.015 (a decimal point).",
        }
    ]
    past = (timezone.now() - datetime.timedelta(days=1)).isoformat()
    response = api_client.post(url(deck), {"file": upload("prefix,rate\n33,1\n"),
                                           "effective_from": past})  # fmt: skip
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "effective_from"
    assert response.json()["errors"][0]["line"] is None
    assert Rate.objects.filter(effective_until__isnull=False).count() == 0


def test_a_too_large_file_is_refused(api_client: APIClient, deck: RateDeck, settings: Any) -> None:
    settings.C4ROUTER = {**settings.C4ROUTER, "IMPORT_MAX_BYTES": 1024}
    response = api_client.post(url(deck), {"file": upload("prefix,rate\n" + "33,0.1\n" * 500)})
    assert response.status_code == 413
    assert "C4ROUTER_IMPORT_MAX_BYTES" in response.json()["errors"][0]["message"]
    assert "manage.py import_rates DECK FILE" in response.json()["errors"][0]["message"]


def test_a_viewer_may_preview_but_not_apply(readonly_client: APIClient, deck: RateDeck) -> None:
    text = "prefix,rate\n33,0.5\n"
    response = readonly_client.post(url(deck), {"file": upload(text), "preview": "true"})
    assert response.status_code == 200
    response = readonly_client.post(url(deck), {"file": upload(text)})
    assert response.status_code == 403
    assert Rate.objects.get(prefix="33").rate == Decimal("0.01")


def test_nobody_may_import(anon_client: APIClient, deck: RateDeck) -> None:
    response = anon_client.post(url(deck), {"file": upload("prefix,rate\n33,0.5\n")})
    assert response.status_code in (401, 403)


def test_the_export_is_the_deck_in_effect_and_imports_back_unchanged(
    api_client: APIClient, deck: RateDeck, readonly_client: APIClient, anon_client: APIClient
) -> None:
    """GET .../export/: the rates in effect (now, or ?at=) in the import format; the file
    previews back as "unchanged" everywhere; a viewer may read it, nobody else."""
    later = timezone.now() + datetime.timedelta(days=2)
    Rate.objects.filter(prefix="44").update(effective_until=later)
    Rate.objects.create(deck=deck, prefix="44", rate=Decimal("0.025"), effective_from=later,
                        connect_fee=Decimal("0.01"), initial_increment=30, next_increment=6,
                        description='=cmd|"/c calc"')  # fmt: skip
    export = f"/api/v1/rate-decks/{deck.pk}/export/"
    response = readonly_client.get(export)
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="rates-{deck.pk}.csv"'
    text = b"".join(response.streaming_content).decode()
    assert text == (
        "prefix,rate,connect_fee,initial_increment,next_increment,description\n"
        "33,0.01,0,1,1,\n44,0.02,0,1,1,\n"
    )
    at = (later + datetime.timedelta(seconds=1)).isoformat()
    response = api_client.get(export, {"at": at})
    text = b"".join(response.streaming_content).decode()
    # The description is a formula: neutralised on the way out (and back in by the import).
    assert text.splitlines()[2] == '44,0.025,0.01,30,6,"\'=cmd|""/c calc"""'
    preview = api_client.post(
        url(deck), {"file": upload(text), "preview": "true", "effective_from": at}
    )
    assert preview.status_code == 200, preview.json()
    assert preview.json()["counts"] == {
        "new": 0, "increased": 0, "decreased": 0, "unchanged": 2, "terms": 0, "removed": 0
    }  # fmt: skip
    for bad in ("tomorrow", "2026-13-01T00:00Z", "2026-12-01T00:00"):
        response = api_client.get(export, {"at": bad})
        assert response.status_code == 400, bad
        assert response.json()["errors"][0]["field"] == "at"
    assert anon_client.get(export).status_code in (401, 403)


def test_a_delta_with_a_line_date(api_client: APIClient, deck: RateDeck) -> None:
    """mode=delta: 44, not in the file, is not removed nor ended; 33's line starts at its
    own date, which the sample shows."""
    when = timezone.now() + datetime.timedelta(days=1)
    own = (when + datetime.timedelta(days=2)).replace(microsecond=0)
    text = f"prefix,rate,effective_from\n33,0.015,{own.isoformat()}\n"
    data = {"file": upload(text), "mode": "delta", "preview": "true",
            "effective_from": when.isoformat()}  # fmt: skip
    body = api_client.post(url(deck), data).json()
    assert body["mode"] == "delta"
    assert body["counts"]["removed"] == 0 and body["samples"]["removed"] == []
    assert body["samples"]["increased"] == [
        {"prefix": "33", "old": "0.01", "new": "0.015", "line": 2,
         "effective_from": own.isoformat()}
    ]  # fmt: skip
    data = {"file": upload(text), "mode": "delta", "effective_from": when.isoformat()}
    body = api_client.post(url(deck), data).json()
    assert (body["created"], body["ended"], body["deleted"]) == (1, 1, 0)
    assert Rate.objects.get(deck=deck, prefix="44").effective_until is None
    assert Rate.objects.get(deck=deck, prefix="33", rate=Decimal("0.015")).effective_from == own
    # Without mode: full, as before (44 removed).
    body = api_client.post(url(deck), {"file": upload("prefix,rate\n33,0.015\n"),
                                       "preview": "true"}).json()  # fmt: skip
    assert body["mode"] == "full" and body["counts"]["removed"] == 1
    response = api_client.post(url(deck), {"file": upload(text), "mode": "partial"})
    assert response.status_code == 400


def test_a_delta_closes_a_prefix_with_a_removed_line(api_client: APIClient, deck: RateDeck) -> None:
    """mode=delta with a `change` column: 44's line says removed (its old rate still in the
    cell): counted and sampled as removed, ended at the file's date; 33 stays."""
    when = timezone.now() + datetime.timedelta(days=1)
    text = "prefix,rate,change\n44,0.02,Removed\n"
    data = {"file": upload(text), "mode": "delta", "effective_from": when.isoformat()}
    body = api_client.post(url(deck), {**data, "preview": "true"}).json()
    assert body["counts"]["removed"] == 1
    assert body["samples"]["removed"] == [
        {"prefix": "44", "old": "0.02", "new": None, "line": 2, "effective_from": None}
    ]
    data["file"] = upload(text)
    body = api_client.post(url(deck), data).json()
    assert (body["created"], body["ended"], body["deleted"]) == (0, 1, 0)
    assert Rate.objects.get(deck=deck, prefix="44").effective_until == when
    assert Rate.objects.get(deck=deck, prefix="33").effective_until is None


def test_a_line_date_before_the_files_is_named(api_client: APIClient, deck: RateDeck) -> None:
    when = timezone.now() + datetime.timedelta(days=2)
    early = (when - datetime.timedelta(days=1)).replace(microsecond=0)
    text = f"prefix,rate,effective_from\n33,0.015,{early.isoformat()}\n"
    response = api_client.post(url(deck), {"file": upload(text),
                                           "effective_from": when.isoformat()})  # fmt: skip
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert (error["line"], error["field"]) == (2, "effective_from")
    assert "is before the file's effective date" in error["message"]
    assert Rate.objects.filter(effective_until__isnull=False).count() == 0


def test_the_effective_date_may_be_a_date_alone(api_client: APIClient, deck: RateDeck) -> None:
    """As the command, the admin and a file's cells: a date is its midnight in the server's
    time zone (UTC here); a malformed one is refused, nothing written."""
    day = (timezone.now() + datetime.timedelta(days=3)).date()
    response = api_client.post(
        url(deck), {"file": upload("prefix,rate\n33,0.015\n"), "effective_from": day.isoformat()}
    )
    assert response.status_code == 200, response.json()
    midnight = datetime.datetime.combine(day, datetime.time(), tzinfo=datetime.UTC)
    assert datetime.datetime.fromisoformat(response.json()["effective_from"]) == midnight
    assert Rate.objects.filter(prefix="33", effective_from=midnight).exists()
    bad = api_client.post(
        url(deck), {"file": upload("prefix,rate\n33,0.02\n"), "effective_from": "2031-02-30"}
    )
    assert bad.status_code == 400
    assert not Rate.objects.filter(rate=Decimal("0.02"), prefix="33").exists()
