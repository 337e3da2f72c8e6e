"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os

import pytest
from django.conf import settings


def pytest_sessionstart(session: pytest.Session) -> None:
    # In CI the suite must run on PostgreSQL: a silent fallback would hide a broken setup.
    if os.environ.get("C4ROUTER_REQUIRE_POSTGRES") == "1":
        engine = settings.DATABASES["default"]["ENGINE"]
        if engine != "django.db.backends.postgresql":
            raise pytest.UsageError(f"C4ROUTER_REQUIRE_POSTGRES=1 but the database is {engine}")


@pytest.fixture
def admin_user(django_user_model):  # type: ignore[no-untyped-def]
    return django_user_model.objects.create_superuser("admin", "admin@example.com", "secret-pass")


@pytest.fixture
def admin_client(client, admin_user):  # type: ignore[no-untyped-def]
    client.force_login(admin_user)
    return client
