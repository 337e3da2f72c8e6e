"""The labels an operator reads are written one way (issue 12, item 8): sentence case,
acronyms in capitals, units in parentheses, nothing abbreviated into jargon."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.urls import reverse

pytestmark = pytest.mark.django_db

# Field labels as Django would make them from a name ("fr timer", "listen ip"): not wanted.
JARGON = ("fr ", " ip", " ms", "inv ", "pai", "url", "api ", "http ", "sip ", "pbx", "did")


def test_no_routing_field_label_is_jargon_or_lowercase_acronym() -> None:
    bad = []
    for model in apps.get_app_config("routing").get_models():
        if model.__name__.startswith("Historical"):
            continue
        for field in model._meta.get_fields():
            label = getattr(field, "verbose_name", None)
            if not isinstance(label, str):
                continue
            padded = f" {label} "
            if any(word in padded for word in JARGON):
                bad.append(f"{model.__name__}.{field.name}: {label!r}")
    assert not bad, "\n".join(bad)


def test_the_router_instance_page_reads_as_written(admin_client) -> None:  # type: ignore[no-untyped-def]
    page = admin_client.get(reverse("admin:routing_routerinstance_add")).content.decode()
    for label in (
        "Listen IP address:",
        "Listen port:",
        "Final-response timer (ms):",
        "INVITE final-response timer (ms):",
        "SIP worker processes:",
    ):
        assert label in page, label
    gateway = admin_client.get(reverse("admin:routing_gateway_add")).content.decode()
    assert "Final-response timer (ms):" in gateway
    assert "INVITE final-response timer (ms):" in gateway


def test_counts_use_the_singular_for_one(admin_client) -> None:  # type: ignore[no-untyped-def]
    from routing.models import RouterInstance

    RouterInstance.objects.create(
        name="edge1", listen_ip="127.0.0.1", api_urls="http://127.0.0.1:8000/kamailio/rtjson"
    )
    page = admin_client.get(reverse("admin:routing_routerinstance_changelist")).content.decode()
    assert "1 router instance\n" in page or "1 router instance<" in page
    assert "1 router instances" not in page
