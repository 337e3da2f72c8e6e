"""Property-based fuzzing of every configuration API operation from the OpenAPI schema.

schemathesis generates requests (valid and invalid) from the schema drf-spectacular makes,
sends them to the WSGI application as an authenticated admin, and checks that no answer is
a server error and that every success answer matches the schema. Bounded (few examples per
operation, fixed seed) so that it runs in well under two minutes in CI.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from tests.api import factories

# The routing endpoint (/kamailio/rtjson) is fuzzed by its own tests; this file covers /api/.
# The coverage phase (boundary values of every field, not bounded by max_examples) takes
# minutes on this schema: random generation, positive and negative, is bounded instead.
config = SchemathesisConfig.from_dict({"phases": {"coverage": {"enabled": False}}})
schema = schemathesis.openapi.from_dict(
    SchemaGenerator().get_schema(request=None, public=True), config=config
)
schema.app = get_wsgi_application()
api_schema = schema.include(path_regex=r"^/api/")


@pytest.fixture
def keep_test_connection() -> Iterator[None]:
    """As Django's test client does: a request must not close the test's connection (its
    transaction holds the test data and is rolled back at the end)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.fixture
def admin_token(admin_user: Any, keep_test_connection: None) -> str:
    # A little data, so that detail operations also find objects, not only 404s.
    tenant = factories.tenant()
    pbx = factories.pbx(tenant=tenant)
    carrier = factories.carrier()
    factories.gateway(carrier=carrier)
    factories.ip_source(carrier=carrier)
    factories.did(pbx=pbx)
    factories.domain(tenant=tenant, pbx=pbx)
    factories.route_rule(targets=[carrier])
    factories.normalization_rule(carrier=carrier)
    factories.router_instance()
    return Token.objects.create(user=admin_user).key


@pytest.mark.django_db
@api_schema.parametrize()
@settings(
    max_examples=20,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_api_never_fails(case: Any, admin_token: str) -> None:
    case.call_and_validate(
        headers={"Authorization": f"Token {admin_token}"},
        checks=[not_a_server_error, response_schema_conformance, content_type_conformance],
    )
