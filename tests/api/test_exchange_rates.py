"""/api/v1/exchange-rates/: who may use it, and what it answers."""

from __future__ import annotations

from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from routing.models import ExchangeRate, current_routing_version

pytestmark = pytest.mark.django_db
URL = "/api/v1/exchange-rates/"


def test_nobody_may_read_or_write_without_logging_in(anon_client: APIClient) -> None:
    ExchangeRate.objects.create(currency="EUR", rate=Decimal("1.08"))
    assert anon_client.get(URL).status_code in (401, 403)
    assert anon_client.post(URL, {"currency": "GBP", "rate": "1.27"}).status_code in (401, 403)
    assert ExchangeRate.objects.count() == 1


def test_a_viewer_may_read_but_not_write(readonly_client: APIClient) -> None:
    ExchangeRate.objects.create(currency="EUR", rate=Decimal("1.08"))
    assert readonly_client.get(URL).json()["count"] == 1
    response = readonly_client.post(URL, {"currency": "GBP", "rate": "1.27"}, format="json")
    assert response.status_code == 403
    assert not ExchangeRate.objects.filter(currency="GBP").exists()


def test_create_list_update_and_the_version_moves(api_client: APIClient) -> None:
    version = current_routing_version()
    created = api_client.post(URL, {"currency": "EUR", "rate": "1.08"}, format="json")
    assert created.status_code == 201, created.json()
    body = created.json()
    assert (body["currency"], body["rate"], body["display"]) == (
        "EUR", "1.0800000000", "1 EUR = 1.08 USD",
    )  # fmt: skip
    assert current_routing_version() == version + 1  # the workers patch their table
    listed = api_client.get(URL, {"currency": "EUR"}).json()
    assert [item["id"] for item in listed["results"]] == [body["id"]]
    changed = api_client.patch(f"{URL}{body['id']}/", {"rate": "1.1"}, format="json")
    assert changed.status_code == 200
    assert ExchangeRate.objects.get().rate == Decimal("1.1")
    assert api_client.get(URL, {"q": "eu"}).json()["count"] == 1


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"currency": "USD", "rate": "1"}, "currency"),  # the base
        ({"currency": "EUR", "rate": "-1"}, "rate"),
        ({"currency": "EUR", "rate": "abc"}, "rate"),
        ({"currency": "euro", "rate": "1.08"}, "currency"),
        ({"rate": "1.08"}, "currency"),
    ],
)
def test_bad_input_is_a_400_with_a_json_error(
    api_client: APIClient, payload: dict[str, str], field: str
) -> None:
    response = api_client.post(URL, payload, format="json")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/json")
    assert field in response.json()
    assert not ExchangeRate.objects.exists()


def test_a_second_rate_for_a_currency_is_a_400(api_client: APIClient) -> None:
    ExchangeRate.objects.create(currency="EUR", rate=Decimal("1.08"))
    response = api_client.post(URL, {"currency": "EUR", "rate": "1.09"}, format="json")
    assert response.status_code == 400
    assert "currency" in response.json()
