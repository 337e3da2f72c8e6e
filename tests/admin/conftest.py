"""The demo data, loaded once for the admin tests of a module.

Loading it takes a few hundred queries (every object goes through full_clean()), and the
admin tests only read it or change it inside their own test transaction. So it is written
once per module inside an outer transaction; each test's transaction is a savepoint in it,
rolled back after the test, and the outer one is rolled back at the end of the module.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import transaction

from routing.demo import seed_demo


@pytest.fixture(scope="module")
def _demo_data(django_db_setup: None, django_db_blocker: pytest.FixtureDef) -> Iterator[None]:
    with django_db_blocker.unblock(), transaction.atomic():  # type: ignore[attr-defined]
        seed_demo()
        yield
        transaction.set_rollback(True)


@pytest.fixture
def demo(_demo_data: None, db: None) -> None:
    """The demo data set (Alpha, Beta, Gamma carriers; Acme and Globex; routes; edge1)."""
