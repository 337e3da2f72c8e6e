"""Every change to routing data bumps RoutingVersion, and only a committed one counts."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.db import models, transaction

from routing.models import (
    ROUTING_MODELS,
    Carrier,
    Did,
    Domain,
    ExchangeRate,
    Gateway,
    HealthPolicy,
    IpSource,
    LnpRule,
    NormalizationRule,
    NumberList,
    NumberListEntry,
    Pbx,
    PortedNumber,
    Rate,
    RateDeck,
    RouterInstance,
    RouteRule,
    RouteTarget,
    RoutingVersion,
    Tenant,
    bump_routing_version,
    current_routing_version,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def makers(
    tenant: Tenant, pbx: Pbx, carrier: Carrier, gateway: Gateway, rule: RouteRule
) -> dict[type[models.Model], Callable[[], models.Model]]:
    """One new, valid object of every routing model."""
    entries = NumberList.objects.create(name="Entries")
    sell = RateDeck.objects.create(name="Acme sell", tenant=tenant)
    return {
        Tenant: lambda: Tenant.objects.create(name="Initech"),
        Domain: lambda: Domain.objects.create(tenant=tenant, name="voice.acme.example", pbx=pbx),
        Pbx: lambda: Pbx.objects.create(tenant=tenant, name="branch", host="10.10.1.10"),
        Carrier: lambda: Carrier.objects.create(name="Beta Voice"),
        Gateway: lambda: Gateway.objects.create(carrier=carrier, name="gw2", host="192.0.2.20"),
        IpSource: lambda: IpSource.objects.create(cidr="192.0.2.16/28", carrier=carrier),
        Did: lambda: Did.objects.create(tenant=tenant, pbx=pbx, number="33111111111"),
        RouteRule: lambda: RouteRule.objects.create(prefix="44"),
        RouteTarget: lambda: RouteTarget.objects.create(rule=rule, carrier=carrier),
        NormalizationRule: lambda: NormalizationRule.objects.create(
            carrier=carrier, direction="in", strip=1
        ),
        RouterInstance: lambda: RouterInstance.objects.create(
            name="edge1", listen_ip="127.0.0.1", api_urls="http://127.0.0.1:8000/kamailio/rtjson"
        ),
        NumberList: lambda: NumberList.objects.create(name="Fraud"),
        NumberListEntry: lambda: NumberListEntry.objects.create(number_list=entries, number="3389"),
        HealthPolicy: lambda: HealthPolicy.objects.create(name="probe"),
        RateDeck: lambda: RateDeck.objects.create(name="Alpha buy", carrier=carrier),
        ExchangeRate: lambda: ExchangeRate.objects.create(currency="EUR", rate="1.08"),
        Rate: lambda: Rate.objects.create(deck=sell, prefix="33", rate="0.01"),
        LnpRule: lambda: LnpRule.objects.create(prefix="1"),
        PortedNumber: lambda: PortedNumber.objects.create(number="12025550123", lrn="13125550000"),
    }


def test_every_routing_model_has_a_maker(
    makers: dict[type[models.Model], Callable[[], models.Model]],
) -> None:
    assert set(makers) == set(ROUTING_MODELS)


def test_the_version_row_exists_after_migrate() -> None:
    assert RoutingVersion.objects.filter(pk=1).exists()


@pytest.mark.parametrize("model", ROUTING_MODELS, ids=lambda model: model.__name__)
def test_create_update_delete_each_bump_the_version(
    makers: dict[type[models.Model], Callable[[], models.Model]], model: type[models.Model]
) -> None:
    before = current_routing_version()
    obj = makers[model]()
    after_create = current_routing_version()
    assert after_create == before + 1

    obj.save()
    after_update = current_routing_version()
    assert after_update == after_create + 1

    obj.delete()
    assert current_routing_version() == after_update + 1


def test_a_bump_records_when(tenant: Tenant) -> None:
    before = RoutingVersion.objects.get(pk=1).changed_at
    tenant.save()
    assert RoutingVersion.objects.get(pk=1).changed_at > before


def test_a_cascade_bumps_once_per_deleted_row(carrier: Carrier, gateway: Gateway) -> None:
    IpSource.objects.create(cidr="203.0.113.0/28", carrier=carrier)
    before = current_routing_version()
    carrier.delete()  # the carrier, its gateway and its IP source
    assert current_routing_version() == before + 3


def test_a_rolled_back_change_does_not_bump() -> None:
    before = current_routing_version()

    class Abort(Exception):
        pass

    with pytest.raises(Abort), transaction.atomic():
        Carrier.objects.create(name="Never")
        assert current_routing_version() == before + 1  # visible inside the transaction
        raise Abort

    assert current_routing_version() == before
    assert not Carrier.objects.filter(name="Never").exists()


def test_a_failed_write_does_not_bump(carrier: Carrier) -> None:
    before = current_routing_version()
    with pytest.raises(Exception), transaction.atomic():  # noqa: B017
        Carrier.objects.create(name=carrier.name)  # duplicate name
    assert current_routing_version() == before


def test_raw_saves_from_fixtures_do_not_bump(tenant: Tenant) -> None:
    before = current_routing_version()
    models.signals.post_save.send(
        sender=Tenant, instance=tenant, created=False, raw=True, using="default"
    )
    assert current_routing_version() == before


def test_bump_recreates_a_missing_row() -> None:
    RoutingVersion.objects.all().delete()
    assert current_routing_version() == 0
    bump_routing_version()
    assert current_routing_version() == 1


@pytest.mark.django_db(transaction=True)
def test_a_version_and_its_change_log_commit_together_outside_a_transaction(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A save in autocommit bumps from its post_save signal: if the change log cannot be
    written, the version stays where it was (workers never see a version without its log)."""
    before = current_routing_version()

    def log_fails(*args: object, **kwargs: object) -> None:
        raise RuntimeError("change log write failed")

    monkeypatch.setattr("routing.models.version.record_changes", log_fails)
    with pytest.raises(RuntimeError):
        Tenant.objects.create(name="Autocommit Ltd")
    assert current_routing_version() == before
