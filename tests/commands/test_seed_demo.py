"""manage.py seed_demo and manage.py ensure_admin."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client

from routing.demo import seed_demo
from routing.models import (
    ROUTING_MODELS,
    Carrier,
    Did,
    Domain,
    Gateway,
    IpSource,
    NormalizationRule,
    RouterInstance,
    RouteRule,
    current_routing_version,
)

pytestmark = pytest.mark.django_db

LOGIN_RE = re.compile(
    r"^Admin login: (?P<url>\S+)  user: (?P<user>\S+)  password: (?P<password>\S+)$", re.M
)


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def row_counts() -> dict[str, int]:
    return {model.__name__: model._default_manager.count() for model in ROUTING_MODELS}


def test_seed_demo_twice_gives_the_same_data() -> None:
    first_output = run("seed_demo")
    counts, version = row_counts(), current_routing_version()
    second_output = run("seed_demo")

    assert row_counts() == counts
    assert current_routing_version() == version  # nothing written: workers keep their table
    assert "Demo data: 60 objects written." in first_output
    assert "Demo data already in place: nothing to write." in second_output
    summary = re.compile(r"^Demo set: .*\.$", re.M)
    assert summary.findall(first_output) == summary.findall(second_output)


def test_seed_demo_counts() -> None:
    first = seed_demo()
    second = seed_demo()
    assert first.pop("changed") == 60
    assert second.pop("changed") == 0
    assert (
        first
        == second
        == {
            "carriers": 3,
            "gateways": 6,
            "IP sources": 6,
            "normalization rules": 7,
            "tenants": 2,
            "PBXs": 2,
            "domains": 2,
            "DIDs": 3,
            "route rules": 7,
            "route targets": 11,
            "number lists": 1,
            "number list entries": 2,
            "rate decks": 1,
            "rates": 2,
            "exchange rates": 1,
            "LNP rules": 1,
            "ported numbers": 1,
            "router instances": 1,
            "health policies": 1,
        }
    )
    # The demo is everything there is on a fresh database.
    assert sum(first.values()) == sum(row_counts().values())


def test_seed_demo_repairs_an_edited_demo_object_and_keeps_the_rest() -> None:
    seed_demo()
    Gateway.objects.filter(name="alpha-2").update(weight=7)
    extra = Carrier.objects.create(name="Operator's own carrier")
    token = RouterInstance.objects.get(name="edge1").token

    assert seed_demo()["changed"] == 1
    assert Gateway.objects.get(name="alpha-2").weight == 50
    assert Carrier.objects.filter(pk=extra.pk).exists()
    assert RouterInstance.objects.get(name="edge1").token == token  # a secret is kept


def test_every_demo_object_is_valid() -> None:
    seed_demo()
    for model in ROUTING_MODELS:
        for obj in model._default_manager.all():
            obj.full_clean()


def test_demo_matches_the_documented_example() -> None:
    # The README's example: a call from 198.51.100.10 (Alpha Telecom) to sip:callee@domain.com
    # is Acme's, delivered to acme-hq.
    seed_demo()
    alpha_networks = IpSource.objects.filter(carrier__name="Alpha Telecom")
    assert "198.51.100.0/28" in {source.cidr for source in alpha_networks}
    domain = Domain.objects.get(name="domain.com")
    assert (domain.tenant.name, domain.pbx and domain.pbx.name) == ("Acme Corp", "acme-hq")
    assert str(Did.objects.get(number="33123456780")) == "33123456780-33123456789"
    assert str(Did.objects.get(number="44207946")) == "44207946*"
    office_hours = RouteRule.objects.get(name="North America, office hours")
    assert office_hours.has_window and office_hours.timezone == "America/New_York"
    acme_uk = RouteRule.objects.get(name="Acme UK")
    assert acme_uk.tenant is not None and acme_uk.from_display == "Acme Corp"
    assert [str(t) for t in acme_uk.targets.order_by("order")] == [
        "0: Beta Voice",
        "1: Alpha Telecom",
    ]
    assert not Gateway.objects.get(name="gamma-2").enabled
    for rule in NormalizationRule.objects.exclude(example_input=""):
        assert rule.as_engine_rule().apply(rule.example_input) == rule.example_output


# --- ensure_admin ---------------------------------------------------------------------------


def login_of(output: str) -> dict[str, str]:
    match = LOGIN_RE.search(output)
    assert match is not None, output
    return match.groupdict()


def test_ensure_admin_creates_a_superuser_whose_printed_password_logs_in(
    monkeypatch: pytest.MonkeyPatch, client: Client
) -> None:
    monkeypatch.delenv("C4ROUTER_ADMIN_PASSWORD", raising=False)
    login = login_of(run("ensure_admin"))
    assert login["url"] == "http://127.0.0.1:8000/admin/"
    assert login["user"] == "admin"
    assert len(login["password"]) >= 16
    user = get_user_model().objects.get(username="admin")
    assert user.is_superuser and user.is_staff and user.is_active
    assert client.login(username="admin", password=login["password"])
    assert client.get("/admin/", HTTP_HOST="localhost").status_code == 200


def test_ensure_admin_keeps_an_existing_password_unless_reset(
    monkeypatch: pytest.MonkeyPatch, client: Client
) -> None:
    monkeypatch.delenv("C4ROUTER_ADMIN_PASSWORD", raising=False)
    first = login_of(run("ensure_admin"))["password"]

    again = run("ensure_admin", "--url", "http://127.0.0.1:9000/admin/")
    assert "http://127.0.0.1:9000/admin/" in again
    assert "password: unchanged (manage.py ensure_admin --reset prints a new one)" in again
    assert client.login(username="admin", password=first)

    second = login_of(run("ensure_admin", "--reset"))["password"]
    assert second != first
    assert not client.login(username="admin", password=first)
    assert client.login(username="admin", password=second)
    assert get_user_model().objects.filter(username="admin").count() == 1


def test_ensure_admin_reset_restores_a_demoted_account(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("C4ROUTER_ADMIN_PASSWORD", raising=False)
    get_user_model().objects.create_user("admin", password="x", is_active=False)
    run("ensure_admin", "--reset")
    user = get_user_model().objects.get(username="admin")
    assert user.is_active and user.is_staff and user.is_superuser


def test_ensure_admin_uses_the_password_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, client: Client
) -> None:
    monkeypatch.setenv("C4ROUTER_ADMIN_PASSWORD", "correct-horse-battery")
    assert login_of(run("ensure_admin"))["password"] == "correct-horse-battery"
    assert client.login(username="admin", password="correct-horse-battery")
    # Given again for an existing user: that is the password wanted, so it is set.
    monkeypatch.setenv("C4ROUTER_ADMIN_PASSWORD", "another-long-secret")
    assert login_of(run("ensure_admin"))["password"] == "another-long-secret"
    assert client.login(username="admin", password="another-long-secret")


def test_ensure_admin_refuses_a_weak_password_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("C4ROUTER_ADMIN_PASSWORD", "admin")
    with pytest.raises(CommandError, match=r"^C4ROUTER_ADMIN_PASSWORD: .*too short"):
        run("ensure_admin")
    assert not get_user_model().objects.filter(username="admin").exists()
