"""An exchange rate as the admin, the API and the loader see it: the model's checks."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from routing.models import ExchangeRate

pytestmark = pytest.mark.django_db


def errors(**values: object) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as caught:
        ExchangeRate(**values).full_clean()
    return caught.value.message_dict


def test_a_rate_in_the_base_currency_is_valid() -> None:
    ExchangeRate(currency="EUR", rate=Decimal("1.08")).full_clean()
    ExchangeRate(currency="JPY", rate=Decimal("0.0066666667")).full_clean()


def test_the_base_currency_itself_is_refused(settings) -> None:  # type: ignore[no-untyped-def]
    assert errors(currency="USD", rate=Decimal(1))["currency"] == [
        "USD is the base currency (C4ROUTER_BASE_CURRENCY): its rate is 1 by definition. "
        "Give the other currencies' rates in it."
    ]
    settings.C4ROUTER = {**settings.C4ROUTER, "BASE_CURRENCY": "EUR"}
    assert "EUR is the base currency" in errors(currency="EUR", rate=Decimal(1))["currency"][0]
    ExchangeRate(currency="USD", rate=Decimal("0.925926")).full_clean()


@pytest.mark.parametrize("value", ["0", "-1.08"])
def test_a_rate_not_above_zero_is_refused(value: str) -> None:
    assert errors(currency="EUR", rate=Decimal(value))["rate"] == [
        "An exchange rate is above zero."
    ]


@pytest.mark.parametrize("code", ["eur", "EURO", "E1R", ""])
def test_a_bad_currency_code_is_refused(code: str) -> None:
    assert "currency" in errors(currency=code, rate=Decimal("1.08"))


def test_one_rate_per_currency() -> None:
    ExchangeRate.objects.create(currency="EUR", rate=Decimal("1.08"))
    assert "currency" in errors(currency="EUR", rate=Decimal("1.09"))


def test_its_text_names_the_base() -> None:
    assert str(ExchangeRate(currency="EUR", rate=Decimal("1.0800000000"))) == "1 EUR = 1.08 USD"
