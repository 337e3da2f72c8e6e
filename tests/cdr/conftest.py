"""Call record tests run on the real PostgreSQL (the partitioned table of migration 0005)."""

from __future__ import annotations

import pytest

from routing.cdr import partitions


@pytest.fixture(autouse=True)
def _fresh_partition_cache():
    # Each test's transaction is rolled back (partitions made in it too): forget them.
    partitions.forget_known()
    yield
    partitions.forget_known()
