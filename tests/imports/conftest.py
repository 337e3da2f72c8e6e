"""Fixtures of the import tests: a small world that CSV files can name."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api import factories


@pytest.fixture
def world(db: Any) -> dict[str, Any]:
    acme = factories.tenant(name="Acme")
    alpha = factories.carrier(name="Alpha Telecom")
    beta = factories.carrier(name="Beta Voice")
    return {
        "acme": acme,
        "globex": factories.tenant(name="Globex"),
        "alpha": alpha,
        "beta": beta,
        "beta1": factories.gateway(carrier=beta, name="beta-1"),
        "beta2": factories.gateway(carrier=beta, name="beta-2"),
        "pbx": factories.pbx(tenant=acme, name="main"),
    }
