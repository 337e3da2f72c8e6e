"""The routing tests' fixtures, for the security tests (issue 11) that route calls."""

from __future__ import annotations

from tests.routing.conftest import live_table, routing_data  # noqa: F401
