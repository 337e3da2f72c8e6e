"""A small, realistic demo data set: three carriers, two customers, their numbers and routes.

Addresses are RFC 5737 documentation networks (192.0.2.0/24, 198.51.100.0/24,
203.0.113.0/24) and private customer networks; names end in .example, except Acme's
domain.com, which the README's example query uses.

Idempotent: objects are looked up by their names and only written when they differ from the
demo, so a second run writes nothing (no history rows, no routing version bump). Every
write goes through full_clean(), so the demo obeys the same validation as the admin.
"""

from __future__ import annotations

import datetime
import json
import shlex
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import urljoin

from django.conf import settings
from django.db import models, transaction

from routing.models import (
    Carrier,
    Did,
    DidMatch,
    Direction,
    Domain,
    ExchangeRate,
    Gateway,
    HealthPolicy,
    IpSource,
    LnpRule,
    NormalizationRule,
    NumberField,
    NumberList,
    NumberListEntry,
    Pbx,
    PortedNumber,
    Rate,
    RateDeck,
    RouterInstance,
    RouteRule,
    RouteTarget,
    RuleKind,
    Tenant,
    Transport,
)
from routing.models.rates import base_currency

M = TypeVar("M", bound=models.Model)


class _Seeder:
    """Writes demo objects and counts them, and how many it had to create or change."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.changed = 0

    def put(self, model: type[M], key: dict[str, Any], **values: Any) -> M:
        obj = model._default_manager.filter(**key).first()
        if obj is None:
            obj = model(**key, **values)
        elif all(getattr(obj, name) == value for name, value in values.items()):
            self._count(model)
            return obj
        else:
            for name, value in values.items():
                setattr(obj, name, value)
        obj.full_clean()
        obj.save()
        self.changed += 1
        self._count(model)
        return obj

    def _count(self, model: type[models.Model]) -> None:
        label = str(model._meta.verbose_name_plural)
        self.counts[label] = self.counts.get(label, 0) + 1


def _normalization(
    seed: _Seeder,
    owner: Carrier | Pbx,
    direction: str,
    priority: int,
    **values: Any,
) -> NormalizationRule:
    owner_key = {"carrier": owner} if isinstance(owner, Carrier) else {"pbx": owner}
    return seed.put(
        NormalizationRule,
        {**owner_key, "direction": direction, "priority": priority},
        **values,
    )


def _targets(seed: _Seeder, rule: RouteRule, *targets: tuple[int, Carrier | Gateway]) -> None:
    for order, target in targets:
        key: dict[str, Any] = {"rule": rule}
        key["carrier" if isinstance(target, Carrier) else "gateway"] = target
        seed.put(RouteTarget, key, order=order)


def _carriers(seed: _Seeder) -> dict[str, Any]:
    alpha = seed.put(
        Carrier,
        {"name": "Alpha Telecom"},
        description="Main French carrier: two gateways sharing calls 2:1.",
    )
    alpha_1 = seed.put(
        Gateway, {"carrier": alpha, "name": "alpha-1"}, host="203.0.113.10", port=5060, weight=100
    )
    seed.put(
        Gateway, {"carrier": alpha, "name": "alpha-2"}, host="203.0.113.11", port=5060, weight=50
    )
    seed.put(IpSource, {"cidr": "198.51.100.0/28"}, carrier=alpha, pbx=None)
    seed.put(IpSource, {"cidr": "203.0.113.0/28"}, carrier=alpha, pbx=None)
    # Alpha sends French national numbers (0...) and international ones (00...).
    _normalization(
        seed,
        alpha,
        Direction.INBOUND,
        10,
        applies_to=NumberField.BOTH,
        kind=RuleKind.PREFIX,
        match_prefix="00",
        strip=2,
        add_prefix="",
        example_input="0044207946000",
        example_output="44207946000",
        description="International: 00 + country code.",
    )
    _normalization(
        seed,
        alpha,
        Direction.INBOUND,
        20,
        applies_to=NumberField.BOTH,
        kind=RuleKind.PREFIX,
        match_prefix="0",
        strip=1,
        add_prefix="33",
        example_input="0123456789",
        example_output="33123456789",
        description="National: 0 + 9 digits is +33.",
    )
    _normalization(
        seed,
        alpha,
        Direction.OUTBOUND,
        100,
        applies_to=NumberField.CALLEE,
        kind=RuleKind.REGEX,
        pattern=r"^33(\d{9})$",
        replacement=r"0\1",
        example_input="33123456789",
        example_output="0123456789",
        description="French numbers are sent in national format.",
    )

    beta = seed.put(
        Carrier,
        {"name": "Beta Voice"},
        description="International wholesale carrier, the default route.",
    )
    seed.put(Gateway, {"carrier": beta, "name": "beta-1"}, host="192.0.2.20", port=5060)
    seed.put(
        Gateway,
        {"carrier": beta, "name": "beta-2"},
        host="192.0.2.21",
        port=5080,
        transport=Transport.TCP,
        prefix="1234#",
        fr_timer=3000,
    )
    seed.put(IpSource, {"cidr": "192.0.2.16/28"}, carrier=beta, pbx=None)
    _normalization(
        seed,
        beta,
        Direction.OUTBOUND,
        100,
        applies_to=NumberField.BOTH,
        kind=RuleKind.PREFIX,
        match_prefix="",
        strip=0,
        add_prefix="+",
        example_input="33123456789",
        example_output="+33123456789",
        description="Beta wants E.164 with '+'.",
    )

    gamma = seed.put(
        Carrier, {"name": "Gamma Carrier"}, description="Cheaper on French mobile numbers."
    )
    seed.put(Gateway, {"carrier": gamma, "name": "gamma-1"}, host="192.0.2.40", port=5060)
    seed.put(
        Gateway,
        {"carrier": gamma, "name": "gamma-2"},
        host="192.0.2.41",
        port=5060,
        enabled=False,
    )
    seed.put(IpSource, {"cidr": "192.0.2.32/28"}, carrier=gamma, pbx=None)
    return {"alpha": alpha, "alpha_1": alpha_1, "beta": beta, "gamma": gamma}


def _customers(seed: _Seeder) -> dict[str, Any]:
    acme = seed.put(Tenant, {"name": "Acme Corp"}, description="Demo customer in France.")
    acme_hq = seed.put(Pbx, {"tenant": acme, "name": "acme-hq"}, host="10.10.0.10", port=5060)
    seed.put(Domain, {"name": "domain.com"}, tenant=acme, pbx=acme_hq)
    seed.put(IpSource, {"cidr": "10.10.0.0/24"}, carrier=None, pbx=acme_hq)
    _normalization(
        seed,
        acme_hq,
        Direction.INBOUND,
        10,
        applies_to=NumberField.BOTH,
        kind=RuleKind.PREFIX,
        match_prefix="00",
        strip=2,
        add_prefix="",
    )
    _normalization(
        seed,
        acme_hq,
        Direction.INBOUND,
        20,
        applies_to=NumberField.BOTH,
        kind=RuleKind.PREFIX,
        match_prefix="0",
        strip=1,
        add_prefix="33",
        example_input="0612345678",
        example_output="33612345678",
    )
    _normalization(
        seed,
        acme_hq,
        Direction.OUTBOUND,
        100,
        applies_to=NumberField.CALLEE,
        kind=RuleKind.REGEX,
        pattern=r"^33(\d{9})$",
        replacement=r"0\1",
    )
    seed.put(
        Did,
        {"number": "33123456780", "match": DidMatch.RANGE},
        range_end="33123456789",
        tenant=acme,
        pbx=acme_hq,
        description="Head office block.",
    )
    seed.put(
        Did,
        {"number": "33987654321", "match": DidMatch.EXACT},
        range_end="",
        tenant=acme,
        pbx=acme_hq,
        description="Support line.",
    )

    globex = seed.put(Tenant, {"name": "Globex"}, description="Demo customer in the UK.")
    globex_pbx = seed.put(
        Pbx, {"tenant": globex, "name": "globex-pbx"}, host="10.20.0.5", port=5060
    )
    seed.put(Domain, {"name": "voice.globex.example"}, tenant=globex, pbx=globex_pbx)
    seed.put(IpSource, {"cidr": "10.20.0.5/32"}, carrier=None, pbx=globex_pbx)
    seed.put(
        Did,
        {"number": "44207946", "match": DidMatch.PREFIX},
        range_end="",
        tenant=globex,
        pbx=globex_pbx,
        description="London number block.",
    )
    return {"acme": acme}


def _routes(seed: _Seeder, carriers: dict[str, Any], customers: dict[str, Any]) -> None:
    alpha, alpha_1 = carriers["alpha"], carriers["alpha_1"]
    beta, gamma = carriers["beta"], carriers["gamma"]
    acme = customers["acme"]

    def rule(name: str, tenant: Tenant | None = None, **values: Any) -> RouteRule:
        return seed.put(RouteRule, {"name": name, "tenant": tenant}, **values)

    _targets(seed, rule("Default route", prefix=""), (0, beta))
    _targets(seed, rule("France", prefix="33"), (0, alpha), (1, beta))
    for digit in "67":
        mobiles = rule(f"France mobile 3{digit}", prefix=f"33{digit}")
        _targets(seed, mobiles, (0, gamma), (1, alpha_1))
    office_hours = rule(
        "North America, office hours",
        prefix="1",
        weekdays="12345",
        start_time=datetime.time(9, 0),
        end_time=datetime.time(18, 0),
        timezone="America/New_York",
        description="Weekdays 09:00-18:00 New York time: the better-quality carrier.",
    )
    _targets(seed, office_hours, (0, alpha))
    _targets(seed, rule("North America", prefix="1"), (0, beta))
    uk = rule(
        "Acme UK",
        tenant=acme,
        prefix="44",
        extra_headers="X-Account: acme",
        from_display="Acme Corp",
    )
    _targets(seed, uk, (0, beta), (1, alpha))


def _number_lists(seed: _Seeder) -> None:
    fraud = seed.put(
        NumberList,
        {"name": "Fraud destinations"},
        mode="block",
        side="called",
        tenant=None,
        carrier=None,
        code=403,
        reason="",
        enabled=True,
        description="Destinations nobody calls in good faith: refused for every call.",
    )
    for number, comment in (
        ("3389", "French premium-rate numbers (08 9x)"),
        ("882", "International networks (satellite): fraud-prone"),
    ):
        seed.put(
            NumberListEntry,
            {"number_list": fraud, "number": number, "match": "prefix"},
            range_end="",
            comment=comment,
        )


def _rate_decks(seed: _Seeder) -> None:
    """A carrier's buy rates, to start least-cost routing from (no demo rule uses them:
    the demo calls route as before)."""
    alpha = Carrier.objects.get(name="Alpha Telecom")
    deck = seed.put(
        RateDeck,
        {"name": "Alpha Telecom buy"},
        carrier=alpha,
        tenant=None,
        currency="EUR",
        description="What Alpha Telecom charges per minute.",
    )
    start = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    for prefix, rate, description in (
        ("33", "0.0080", "France fixed"),
        ("336", "0.0250", "France mobiles"),
    ):
        seed.put(
            Rate,
            {"deck": deck, "prefix": prefix, "effective_from": start},
            rate=Decimal(rate),
            description=description,
        )
    # The deck is in EUR: what a euro is worth in the base currency (USD by default), for
    # least-cost rules whose carriers' decks are in several currencies.
    if base_currency() == "USD":
        seed.put(ExchangeRate, {"currency": "EUR"}, rate=Decimal("1.08"))


def _portability(seed: _Seeder) -> None:
    """North American numbers are looked up; one (a documentation number) is ported."""
    seed.put(
        LnpRule,
        {"tenant": None, "prefix": "1"},
        enabled=True,
        description="North America: ported numbers route on their LRN.",
    )
    seed.put(PortedNumber, {"number": "12025550123"}, lrn="13125550000", effective_from=None)


def seed_demo() -> dict[str, int]:
    """Create or refresh the demo data; returns the demo objects per model and 'changed'.

    'changed' counts the objects this run created or updated: 0 when the demo was already
    in place.
    """
    seed = _Seeder()
    with transaction.atomic():
        carriers = _carriers(seed)
        customers = _customers(seed)
        _routes(seed, carriers, customers)
        _number_lists(seed)
        _rate_decks(seed)
        _portability(seed)
        seed.put(
            RouterInstance,
            {"name": "edge1"},
            listen_ip="127.0.0.1",
            listen_port=5060,
            transport="udp",
            # This c4router, as the quick start serves it (C4ROUTER_URL: its port).
            api_urls=urljoin(settings.SITE_URL, "kamailio/rtjson"),
            description="Local Kamailio for trying the demo.",
        )
        # A carrier health policy to start from: no demo carrier uses it (their addresses
        # are documentation ones, which a Kamailio would find dead).
        seed.put(
            HealthPolicy,
            {"name": "Probe every 10 s"},
            probing=True,
            probe_interval=10,
            down_after=3,
            up_after=2,
            alive_codes="200",
            down_policy="skip",
        )
    return {**seed.counts, "changed": seed.changed}


# --- Trying it ------------------------------------------------------------------------------

DEMO_INSTANCE = "edge1"


@dataclass(frozen=True)
class DemoCall:
    """A routing query Kamailio could send for the demo data, and what c4router answers."""

    what: str
    query: dict[str, str]


DEMO_CALLS = (
    DemoCall(
        "a call that routes: Acme's PBX (10.10.0.10) calls the French mobile 06 12 34 56 78; "
        "rule 'France mobile 36': Gamma's gamma-1, then Alpha's alpha-1",
        {
            "source_ip": "10.10.0.10",
            "call_id": "demo-routed",
            "from_uri": "sip:0123456789@10.10.0.10",
            "to_uri": "sip:0612345678@domain.com",
        },
    ),
    DemoCall(
        "a call that is refused: Alpha Telecom (198.51.100.10) brings in 01 99 99 99 99, "
        "which no DID or domain knows: 404 No Route",
        {
            "source_ip": "198.51.100.10",
            "call_id": "demo-refused",
            "from_uri": "sip:0611223344@198.51.100.10",
            "to_uri": "sip:0199999999@c4router.example",
        },
    ),
)


def demo_token() -> str | None:
    """The token of the demo's router instance (Kamailio sends it as X-C4-Token), if the
    instance exists and is enabled."""
    return (
        RouterInstance.objects.filter(name=DEMO_INSTANCE, enabled=True)
        .values_list("token", flat=True)
        .first()
    )


def curl_command(base_url: str, token: str, query: dict[str, str]) -> str:
    """One shell line POSTing `query` to the routing endpoint as Kamailio does. Every word
    is shell-quoted (a token is whatever an admin typed, 16 characters or more)."""
    return shlex.join(
        [
            "curl", "-s", "-w", "\\n",  # curl prints the newline the JSON answer lacks
            "-H", f"X-C4-Token: {token}", "-H", "Content-Type: application/json",
            "-d", json.dumps(query, separators=(",", ":")),
            urljoin(base_url, "kamailio/rtjson"),
        ]
    )  # fmt: skip
