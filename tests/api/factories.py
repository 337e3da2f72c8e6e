"""Small builders of routing data for the API and import tests (saved through the models)."""

from __future__ import annotations

import itertools
from typing import Any

from routing.models import (
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
    Tenant,
)

_seq = itertools.count(1)


def _n() -> int:
    return next(_seq)


def tenant(**kw: Any) -> Tenant:
    return Tenant.objects.create(**{"name": f"Tenant {_n()}", **kw})


def pbx(**kw: Any) -> Pbx:
    n = _n()
    kw.setdefault("tenant", kw.get("tenant") or tenant())
    return Pbx.objects.create(**{"name": f"pbx-{n}", "host": f"192.0.2.{n % 250 + 1}", **kw})


def domain(**kw: Any) -> Domain:
    kw.setdefault("tenant", kw.get("tenant") or tenant())
    return Domain.objects.create(**{"name": f"voice{_n()}.example.com", **kw})


def carrier(**kw: Any) -> Carrier:
    return Carrier.objects.create(**{"name": f"Carrier {_n()}", **kw})


def gateway(**kw: Any) -> Gateway:
    n = _n()
    kw.setdefault("carrier", kw.get("carrier") or carrier())
    return Gateway.objects.create(**{"name": f"gw-{n}", "host": f"198.51.100.{n % 250 + 1}", **kw})


def ip_source(**kw: Any) -> IpSource:
    n = _n()
    if "pbx" not in kw and "carrier" not in kw:
        kw["carrier"] = carrier()
    return IpSource.objects.create(**{"cidr": f"10.{n % 250}.{n // 250 % 250}.0/24", **kw})


def did(**kw: Any) -> Did:
    if "pbx" not in kw:
        kw["pbx"] = pbx(**({"tenant": kw["tenant"]} if "tenant" in kw else {}))
    kw.setdefault("tenant", kw["pbx"].tenant)
    return Did.objects.create(**{"number": f"3312345{_n():04d}", **kw})


def route_rule(targets: list[Carrier | Gateway] = (), **kw: Any) -> RouteRule:  # type: ignore[assignment]
    rule = RouteRule.objects.create(**{"prefix": f"33{_n()}", **kw})
    for order, target in enumerate(targets):
        field = "carrier" if isinstance(target, Carrier) else "gateway"
        RouteTarget.objects.create(rule=rule, order=order, **{field: target})
    return rule


def normalization_rule(**kw: Any) -> NormalizationRule:
    if "pbx" not in kw and "carrier" not in kw:
        kw["carrier"] = carrier()
    return NormalizationRule.objects.create(
        **{"direction": "in", "strip": 1, "add_prefix": "33", **kw}
    )


def router_instance(**kw: Any) -> RouterInstance:
    return RouterInstance.objects.create(
        **{
            "name": f"kam-{_n()}",
            "listen_ip": "192.0.2.1",
            "api_urls": "http://127.0.0.1:8000/kamailio/rtjson",
            **kw,
        }
    )


def number_list(**kw: Any) -> NumberList:
    return NumberList.objects.create(**{"name": f"List {_n()}", **kw})


def list_entry(**kw: Any) -> NumberListEntry:
    if "number_list" not in kw:
        kw["number_list"] = number_list()
    return NumberListEntry.objects.create(**{"number": f"3389{_n():04d}", **kw})


def lnp_rule(**kw: Any) -> LnpRule:
    return LnpRule.objects.create(**{"prefix": f"1{_n()}", **kw})


def ported_number(**kw: Any) -> PortedNumber:
    return PortedNumber.objects.create(
        **{"number": f"1202555{_n():04d}", "lrn": "13125550000", **kw}
    )


def health_policy(**kw: Any) -> HealthPolicy:
    return HealthPolicy.objects.create(**{"name": f"policy-{_n()}", **kw})


def rate_deck(**kw: Any) -> RateDeck:
    if "carrier" not in kw and "tenant" not in kw:
        kw["carrier"] = carrier()
    return RateDeck.objects.create(**{"name": f"Deck {_n()}", **kw})


def exchange_rate(**kw: Any) -> ExchangeRate:
    return ExchangeRate.objects.create(**{"currency": "EUR", "rate": "1.08", **kw})


def rate(**kw: Any) -> Rate:
    if "deck" not in kw:
        kw["deck"] = rate_deck()
    return Rate.objects.create(**{"prefix": "33", "rate": "0.0100", **kw})
