"""The Exchange rates admin page: list, search, add (the base currency refused), history."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client

from routing.models import ExchangeRate

pytestmark = pytest.mark.django_db
LIST = "/admin/routing/exchangerate/"


def test_add_list_search_and_history(admin_client: Client) -> None:
    response = admin_client.post(f"{LIST}add/", {"currency": "EUR", "rate": "1.08"})
    assert response.status_code == 302, response.content.decode()
    euro = ExchangeRate.objects.get(currency="EUR")
    assert euro.rate == Decimal("1.08")
    ExchangeRate.objects.create(currency="GBP", rate=Decimal("1.27"))
    page = admin_client.get(LIST).content.decode()
    assert "1.08 USD" in page and "1.27 USD" in page
    found = admin_client.get(LIST, {"q": "gb"}).content.decode()
    assert "1.27 USD" in found and "1.08 USD" not in found
    history = admin_client.get(f"{LIST}{euro.pk}/history/")
    assert history.status_code == 200
    assert euro.history.count() == 1


def test_the_base_currency_is_refused_with_its_reason(admin_client: Client) -> None:
    response = admin_client.post(f"{LIST}add/", {"currency": "USD", "rate": "1"})
    assert response.status_code == 200
    assert "USD is the base currency (C4ROUTER_BASE_CURRENCY): its rate is 1 by definition." in (
        response.content.decode()
    )
    assert not ExchangeRate.objects.exists()
