"""Fixtures of the API tests: clients for an admin, a read-only user and nobody."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

from routing.models import ROUTING_MODELS


@pytest.fixture
def api_client(admin_user) -> APIClient:  # type: ignore[no-untyped-def]
    client = APIClient()
    client.force_authenticate(admin_user)
    return client


@pytest.fixture
def anon_client() -> APIClient:
    return APIClient()


@pytest.fixture
def readonly_user(django_user_model):  # type: ignore[no-untyped-def]
    """A user who may view every routing model, and nothing more."""
    user = django_user_model.objects.create_user("viewer", password="viewer-pass")
    names = [f"view_{model._meta.model_name}" for model in ROUTING_MODELS]
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="routing", codename__in=names)
    )
    return user


@pytest.fixture
def readonly_client(readonly_user) -> APIClient:  # type: ignore[no-untyped-def]
    client = APIClient()
    client.force_authenticate(readonly_user)
    return client
