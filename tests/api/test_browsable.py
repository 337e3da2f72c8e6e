"""The browsable API as a user meets it in a browser (issue 12, item 9)."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.api import factories

pytestmark = pytest.mark.django_db

HTML = {"HTTP_ACCEPT": "text/html"}


@pytest.fixture
def browser_client(admin_user) -> APIClient:  # type: ignore[no-untyped-def]
    client = APIClient()
    client.force_login(admin_user)
    return client


def test_the_root_says_what_the_api_is_for(browser_client: APIClient) -> None:
    page = browser_client.get("/api/v1/", **HTML).content.decode()
    assert "c4router configuration API" in page
    assert "to read and change from scripts and other" in page
    assert "DRF" not in page


def test_the_route_rule_form_is_the_json_one(browser_client: APIClient) -> None:
    page = browser_client.get("/api/v1/route-rules/", **HTML).content.decode()
    assert 'id="post-generic-content-form"' in page  # the raw JSON form: targets included
    assert 'id="post-object-form"' not in page  # no HTML form that drops the targets
    assert "Lists are not currently supported in HTML input" not in page
    rule = factories.route_rule(targets=[factories.carrier()])
    page = browser_client.get(f"/api/v1/route-rules/{rule.pk}/", **HTML).content.decode()
    assert 'id="put-generic-content-form"' in page and 'id="put-object-form"' not in page


def test_the_html_forms_start_from_the_models_defaults(browser_client: APIClient) -> None:
    page = browser_client.get("/api/v1/carriers/", **HTML).content.decode()
    form = page[page.index('id="post-object-form"') :]
    checkbox = form[form.index('name="enabled"') - 200 : form.index('name="enabled"') + 200]
    assert "checked" in checkbox, checkbox
    raw = browser_client.get("/api/v1/route-rules/", **HTML).content.decode()
    assert "&quot;enabled&quot;: true" in raw and "&quot;priority&quot;: 100" in raw
