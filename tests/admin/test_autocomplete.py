"""The admin's pickers (autocomplete fields): every one answers in a stable order.

A picker pages through the target model's admin queryset. A queryset with an aggregate
annotation (the carrier and tenant lists count their gateways, domains...) loses the
model's default ordering, so paging was unstable and Django logged an
UnorderedObjectListWarning each time a picker opened (the carrier picker of a route
target, on every rule edited).
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from django.contrib import admin
from django.core.paginator import UnorderedObjectListWarning
from django.test import Client

pytestmark = pytest.mark.django_db


def autocomplete_fields() -> list[tuple[str, str, str]]:
    """(app_label, model_name, field_name) of every picker of the admin, inlines too."""
    found = set()
    for model, model_admin in admin.site._registry.items():
        admins: list[Any] = [model_admin]
        admins += [inline(model, admin.site) for inline in model_admin.inlines]
        for owner in admins:
            for field in owner.autocomplete_fields:
                meta = owner.model._meta
                found.add((meta.app_label, meta.model_name, field))
    return sorted(found)


def test_the_pickers_are_found() -> None:
    assert ("routing", "routetarget", "carrier") in autocomplete_fields()
    assert ("routing", "domain", "tenant") in autocomplete_fields()


@pytest.mark.parametrize(("app_label", "model_name", "field_name"), autocomplete_fields())
def test_every_picker_pages_an_ordered_list(
    demo: None, admin_client: Client, app_label: str, model_name: str, field_name: str
) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        response = admin_client.get(
            "/admin/autocomplete/",
            {"app_label": app_label, "model_name": model_name, "field_name": field_name},
        )
    assert response.status_code == 200, response.content[:300]
    unordered = [str(w.message) for w in caught if w.category is UnorderedObjectListWarning]
    assert unordered == []
    names = [item["text"] for item in response.json()["results"]]
    assert names, f"the {field_name} picker of {model_name} offers nothing on the demo data"


def test_the_carrier_picker_lists_carriers_by_name(demo: None, admin_client: Client) -> None:
    response = admin_client.get(
        "/admin/autocomplete/",
        {"app_label": "routing", "model_name": "routetarget", "field_name": "carrier"},
    )
    names = [item["text"] for item in response.json()["results"]]
    assert names == ["Alpha Telecom", "Beta Voice", "Gamma Carrier"]
