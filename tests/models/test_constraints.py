"""Every database constraint of the routing models refuses a bad row.

The rows are written with objects.create() / update(), which skip full_clean(): this is what
a bulk import, a raw SQL script or a bug in a new code path would do, and the database must
still say no. A meta-test checks that no constraint is left without a case here.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.apps import apps
from django.db import IntegrityError, connection, models, transaction

from routing.cdr import partitions
from routing.models import (
    CallRecord,
    Carrier,
    Did,
    DidMatch,
    ExchangeRate,
    Gateway,
    GatewayHealth,
    GatewayHealthEvent,
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
    TrafficCodeRollup,
    TrafficCodeRollupHour,
    TrafficMoneyRollup,
    TrafficMoneyRollupHour,
    TrafficRollup,
    TrafficRollupHour,
)


@dataclass
class Objects:
    tenant: Tenant
    pbx: Pbx
    carrier: Carrier
    gateway: Gateway
    rule: RouteRule


@pytest.fixture
def objs(tenant: Tenant, pbx: Pbx, carrier: Carrier, gateway: Gateway, rule: RouteRule) -> Objects:
    return Objects(tenant=tenant, pbx=pbx, carrier=carrier, gateway=gateway, rule=rule)


def gateway(o: Objects, **values: object) -> Gateway:
    return Gateway.objects.create(
        **{"carrier": o.carrier, "name": "gw-x", "host": "192.0.2.99", **values}
    )


def pbx(o: Objects, **values: object) -> Pbx:
    return Pbx.objects.create(**{"tenant": o.tenant, "name": "pbx-x", "host": "10.0.0.9", **values})


def did(o: Objects, **values: object) -> Did:
    return Did.objects.create(
        **{"tenant": o.tenant, "pbx": o.pbx, "number": "33123456789", **values}
    )


def source(o: Objects, **values: object) -> IpSource:
    return IpSource.objects.create(**{"cidr": "192.0.2.0/28", "carrier": o.carrier, **values})


def normalization(o: Objects, **values: object) -> NormalizationRule:
    return NormalizationRule.objects.create(
        **{"carrier": o.carrier, "direction": "in", "strip": 1, **values}
    )


def route_rule(o: Objects, **values: object) -> RouteRule:
    return RouteRule.objects.create(**{"prefix": "44", **values})


def target(o: Objects, **values: object) -> RouteTarget:
    return RouteTarget.objects.create(**{"rule": o.rule, "carrier": o.carrier, **values})


def instance(o: Objects, **values: object) -> RouterInstance:
    return RouterInstance.objects.create(
        **{"name": "edge-x", "listen_ip": "127.0.0.1", "api_urls": "http://127.0.0.1/", **values}
    )


def rate_deck(o: Objects, **values: object) -> RateDeck:
    return RateDeck.objects.create(**{"name": "deck-x", "carrier": o.carrier, **values})


def rate(o: Objects, **values: object) -> Rate:
    deck, _ = RateDeck.objects.get_or_create(name="rates", carrier=o.carrier)
    return Rate.objects.create(**{"deck": deck, "prefix": "33", "rate": "0.01",
                                  "effective_from": CALL_START, **values})  # fmt: skip


def tenant_row(o: Objects, **values: object) -> Tenant:
    return Tenant.objects.create(**{"name": "tenant-x", **values})


def number_list(o: Objects, **values: object) -> NumberList:
    return NumberList.objects.create(**{"name": "list-x", **values})


def list_entry(o: Objects, **values: object) -> NumberListEntry:
    owner, _ = NumberList.objects.get_or_create(name="entries")
    return NumberListEntry.objects.create(**{"number_list": owner, "number": "3389", **values})


def lnp_rule(o: Objects, **values: object) -> LnpRule:
    return LnpRule.objects.create(**{"prefix": "1", **values})


def ported(o: Objects, **values: object) -> PortedNumber:
    return PortedNumber.objects.create(**{"number": "12025550123", "lrn": "13125550000", **values})


def twice(make: Callable[[Objects], object]) -> Callable[[Objects], object]:
    """A case that writes one good row, then the same row again."""

    def run(o: Objects) -> object:
        make(o)
        return make(o)

    return run


CALL_START = datetime.datetime(2026, 1, 5, 10, 0, tzinfo=datetime.UTC)


def call_record(o: Objects) -> CallRecord:
    partitions.ensure_for([CALL_START])  # a partitioned table needs the day's partition
    return CallRecord.objects.create(
        kind="attempt", call_id="c1@x", attempt=1, start_time=CALL_START, sip_code=503
    )


def rollup(model: type[models.Model]) -> Callable[[Objects], object]:
    return lambda o: model._default_manager.create(bucket=CALL_START, carrier_id=o.carrier.pk)


def code_rollup(model: type[models.Model]) -> Callable[[Objects], object]:
    return lambda o: model._default_manager.create(
        bucket=CALL_START, carrier_id=o.carrier.pk, sip_code=503
    )


def money_rollup(model: type[models.Model]) -> Callable[[Objects], object]:
    return lambda o: model._default_manager.create(
        bucket=CALL_START, carrier_id=o.carrier.pk, currency="EUR"
    )


def policy(o: Objects, **values: object) -> HealthPolicy:
    return HealthPolicy.objects.create(**{"name": "probe", **values})


def health(o: Objects, **values: object) -> GatewayHealth:
    return GatewayHealth.objects.create(**{"gateway": o.gateway, **values})


def health_event(o: Objects, **values: object) -> GatewayHealthEvent:
    return GatewayHealthEvent.objects.create(**{"gateway": o.gateway, "state": "down", **values})


T9 = datetime.time(9, 0)
T18 = datetime.time(18, 0)

CASES: list[tuple[str, str, Callable[[Objects], object]]] = [
    # Gateways
    ("routing_gateway_unique_name", "same name", lambda o: gateway(o, name="alpha-1")),
    (
        "routing_gateway_unique_address",
        "same host/port/transport",
        lambda o: gateway(o, host="203.0.113.10"),
    ),
    ("routing_gateway_weight_range", "weight 0", lambda o: gateway(o, weight=0)),
    ("routing_gateway_weight_range", "weight 1001", lambda o: gateway(o, weight=1001)),
    ("routing_gateway_strip_range", "strip 21", lambda o: gateway(o, strip=21)),
    ("routing_gateway_port_range", "port 0", lambda o: gateway(o, port=0)),
    ("routing_gateway_port_range", "port 65536", lambda o: gateway(o, port=65536)),
    ("routing_gateway_transport_valid", "ws", lambda o: gateway(o, transport="ws")),
    ("routing_gateway_fr_timer_range", "fr_timer 99", lambda o: gateway(o, fr_timer=99)),
    ("routing_gateway_fr_timer_range", "fr_timer big", lambda o: gateway(o, fr_timer=120_001)),
    ("routing_gateway_fr_inv_timer_range", "999", lambda o: gateway(o, fr_inv_timer=999)),
    ("routing_gateway_fr_inv_timer_range", "big", lambda o: gateway(o, fr_inv_timer=600_001)),
    # PBXs
    ("routing_pbx_unique_name", "same name", lambda o: pbx(o, name="hq")),
    ("routing_pbx_port_range", "port 0", lambda o: pbx(o, port=0)),
    ("routing_pbx_transport_valid", "ws", lambda o: pbx(o, transport="ws")),
    ("routing_pbx_fr_timer_range", "fr_timer 99", lambda o: pbx(o, fr_timer=99)),
    ("routing_pbx_fr_inv_timer_range", "999", lambda o: pbx(o, fr_inv_timer=999)),
    # DIDs
    ("routing_did_match_valid", "regex", lambda o: did(o, match="regex")),
    ("routing_did_number_not_empty", "empty", lambda o: did(o, number="")),
    ("routing_did_range_valid", "range without end", lambda o: did(o, match=DidMatch.RANGE)),
    (
        "routing_did_range_valid",
        "range end below start",
        lambda o: did(o, match=DidMatch.RANGE, range_end="33123456780"),
    ),
    (
        "routing_did_range_valid",
        "range end with more digits",
        lambda o: did(o, match=DidMatch.RANGE, range_end="331234567899"),
    ),
    (
        "routing_did_range_valid",
        "exact number with an end",
        lambda o: did(o, match=DidMatch.EXACT, range_end="33123456789"),
    ),
    ("routing_did_unique_number", "same exact number", twice(did)),
    # IP sources
    ("routing_ipsource_one_owner", "no owner", lambda o: source(o, carrier=None)),
    ("routing_ipsource_one_owner", "two owners", lambda o: source(o, pbx=o.pbx)),
    ("routing_ipsource_cidr_not_empty", "empty", lambda o: source(o, cidr="")),
    # Normalization rules
    ("routing_normalizationrule_one_owner", "none", lambda o: normalization(o, carrier=None)),
    ("routing_normalizationrule_one_owner", "two", lambda o: normalization(o, pbx=o.pbx)),
    (
        "routing_normalizationrule_direction_valid",
        "sideways",
        lambda o: normalization(o, direction="up"),
    ),
    (
        "routing_normalizationrule_priority_range",
        "1001",
        lambda o: normalization(o, priority=1001),
    ),
    ("routing_normalizationrule_strip_range", "21", lambda o: normalization(o, strip=21)),
    (
        "routing_normalizationrule_kind_complete",
        "regex without pattern",
        lambda o: normalization(o, kind="regex", pattern=""),
    ),
    (
        "routing_normalizationrule_kind_complete",
        "prefix rule changing nothing",
        lambda o: normalization(o, kind="prefix", strip=0, add_prefix=""),
    ),
    # Route rules and targets
    ("routing_routerule_priority_range", "1001", lambda o: route_rule(o, priority=1001)),
    ("routing_routerule_window_valid", "start only", lambda o: route_rule(o, start_time=T9)),
    ("routing_routerule_window_valid", "end only", lambda o: route_rule(o, end_time=T18)),
    (
        "routing_routerule_window_valid",
        "empty window",
        lambda o: route_rule(o, start_time=T9, end_time=T9),
    ),
    (
        "routing_routerule_action_valid",
        "route with a code",
        lambda o: route_rule(o, reject_code=403),
    ),
    (
        "routing_routerule_action_valid",
        "route with a reason",
        lambda o: route_rule(o, reject_reason="Forbidden"),
    ),
    (
        "routing_routerule_action_valid",
        "reject without a code",
        lambda o: route_rule(o, action="reject", reject_reason="Forbidden"),
    ),
    (
        "routing_routerule_action_valid",
        "reject without a reason",
        lambda o: route_rule(o, action="reject", reject_code=403),
    ),
    (
        "routing_routerule_action_valid",
        "reject with 200",
        lambda o: route_rule(o, action="reject", reject_code=200, reject_reason="OK"),
    ),
    (
        "routing_routerule_action_valid",
        "reject with 700",
        lambda o: route_rule(o, action="reject", reject_code=700, reject_reason="Odd"),
    ),
    ("routing_routetarget_one_destination", "none", lambda o: target(o, carrier=None)),
    ("routing_routetarget_one_destination", "both", lambda o: target(o, gateway=o.gateway)),
    ("routing_routetarget_order_range", "100", lambda o: target(o, order=100)),
    ("routing_routetarget_weight_range", "0", lambda o: target(o, weight=0)),
    ("routing_routetarget_weight_range", "1001", lambda o: target(o, weight=1001)),
    ("routing_routetarget_unique_carrier", "same carrier twice", twice(target)),
    (
        "routing_routetarget_unique_gateway",
        "same gateway twice",
        twice(lambda o: target(o, carrier=None, gateway=o.gateway)),
    ),
    # Router instances
    ("routing_routerinstance_port_range", "0", lambda o: instance(o, listen_port=0)),
    ("routing_routerinstance_timeout_range", "99", lambda o: instance(o, api_timeout_ms=99)),
    ("routing_routerinstance_timeout_range", "big", lambda o: instance(o, api_timeout_ms=30_001)),
    ("routing_routerinstance_transport_valid", "tls", lambda o: instance(o, transport="tls")),
    (
        "routing_routerinstance_unique_token",
        "same token",
        lambda o: (instance(o, token="t" * 20), instance(o, name="edge-y", token="t" * 20)),
    ),
    # Carrier health
    ("routing_healthpolicy_interval_range", "0", lambda o: policy(o, probe_interval=0)),
    ("routing_healthpolicy_interval_range", "3601", lambda o: policy(o, probe_interval=3601)),
    ("routing_healthpolicy_threshold_range", "down 0", lambda o: policy(o, down_after=0)),
    ("routing_healthpolicy_threshold_range", "up 101", lambda o: policy(o, up_after=101)),
    ("routing_healthpolicy_down_policy", "drop", lambda o: policy(o, down_policy="drop")),
    ("routing_healthpolicy_window_range", "9 s", lambda o: policy(o, demote_window=9)),
    ("routing_healthpolicy_min_attempts_range", "0", lambda o: policy(o, demote_min_attempts=0)),
    (
        "routing_healthpolicy_demote_range",
        "start = end",
        lambda o: policy(o, demote_start=50, demote_end=50),
    ),
    ("routing_healthpolicy_demote_range", "end 101", lambda o: policy(o, demote_end=101)),
    ("routing_gatewayhealth_state", "sick", lambda o: health(o, state="sick")),
    (
        "routing_gatewayhealth_probability_range",
        "1.5",
        lambda o: health(o, skip_probability=1.5),
    ),
    ("routing_gatewayhealthevent_state", "off-ish", lambda o: health_event(o, state="x")),
    (
        "routing_routerinstance_breaker_range",
        "0 failures",
        lambda o: instance(o, api_breaker_failures=0),
    ),
    (
        "routing_routerinstance_breaker_range",
        "0 seconds",
        lambda o: instance(o, api_breaker_seconds=0),
    ),
    # Call records and their rollups: the ingester's idempotency and upsert keys
    ("routing_callrecord_key", "same attempt twice", twice(call_record)),
    ("routing_trafficrollup_key", "same bucket twice", twice(rollup(TrafficRollup))),
    ("routing_trafficrolluphour_key", "same hour twice", twice(rollup(TrafficRollupHour))),
    (
        "routing_trafficcoderollup_key",
        "same bucket and code twice",
        twice(code_rollup(TrafficCodeRollup)),
    ),
    (
        "routing_trafficcoderolluphour_key",
        "same hour and code twice",
        twice(code_rollup(TrafficCodeRollupHour)),
    ),
    (
        "routing_trafficmoneyrollup_key",
        "same bucket and currency twice",
        twice(money_rollup(TrafficMoneyRollup)),
    ),
    (
        "routing_trafficmoneyrolluphour_key",
        "same hour and currency twice",
        twice(money_rollup(TrafficMoneyRollupHour)),
    ),
    # Number lists
    ("routing_numberlist_mode_valid", "mode maybe", lambda o: number_list(o, mode="maybe")),
    ("routing_numberlist_side_valid", "side both", lambda o: number_list(o, side="both")),
    ("routing_numberlist_code_range", "code 399", lambda o: number_list(o, code=399)),
    ("routing_numberlist_code_range", "code 700", lambda o: number_list(o, code=700)),
    (
        "routing_numberlist_one_attachment",
        "tenant and carrier",
        lambda o: number_list(o, tenant=o.tenant, carrier=o.carrier),
    ),
    ("routing_numberlistentry_match_valid", "match fuzzy", lambda o: list_entry(o, match="x")),
    ("routing_numberlistentry_number_not_empty", "empty", lambda o: list_entry(o, number="")),
    (
        "routing_numberlistentry_range_valid",
        "range without end",
        lambda o: list_entry(o, match="range"),
    ),
    (
        "routing_numberlistentry_range_valid",
        "end below start",
        lambda o: list_entry(o, match="range", number="3390", range_end="3389"),
    ),
    (
        "routing_numberlistentry_range_valid",
        "end of another length",
        lambda o: list_entry(o, match="range", number="3389", range_end="33899"),
    ),
    (
        "routing_numberlistentry_range_valid",
        "end on an exact entry",
        lambda o: list_entry(o, range_end="3390"),
    ),
    ("routing_numberlistentry_unique", "same entry twice", twice(list_entry)),
    # Least-cost routing
    ("routing_ratedeck_one_owner", "no owner", lambda o: rate_deck(o, carrier=None)),
    (
        "routing_ratedeck_one_owner",
        "carrier and tenant",
        lambda o: rate_deck(o, tenant=o.tenant),
    ),
    ("routing_ratedeck_currency_valid", "eur", lambda o: rate_deck(o, currency="eur")),
    ("routing_rate_not_negative", "rate -1", lambda o: rate(o, rate="-1")),
    ("routing_rate_not_negative", "fee -1", lambda o: rate(o, connect_fee="-0.5")),
    ("routing_rate_increments_valid", "0 s", lambda o: rate(o, initial_increment=0)),
    ("routing_rate_increments_valid", "next 0 s", lambda o: rate(o, next_increment=0)),
    (
        "routing_rate_period_valid",
        "ends when it starts",
        lambda o: rate(o, effective_until=CALL_START),
    ),
    ("routing_rate_unique_start", "same start twice", twice(rate)),
    (
        "routing_exchangerate_currency_valid",
        "eur",
        lambda o: ExchangeRate.objects.create(currency="eur", rate=1),
    ),
    (
        "routing_exchangerate_rate_positive",
        "rate 0",
        lambda o: ExchangeRate.objects.create(currency="EUR", rate=0),
    ),
    (
        "routing_routerule_mode_valid",
        "band without lcr_band",
        lambda o: route_rule(o, mode="lcr", band_percent=5),
    ),
    (
        "routing_routerule_mode_valid",
        "lcr_band without band",
        lambda o: route_rule(o, mode="lcr_band"),
    ),
    (
        "routing_routerule_mode_valid",
        "band 0",
        lambda o: route_rule(o, mode="lcr_band", band_percent=0),
    ),
    ("routing_routerule_mode_valid", "mode cheap", lambda o: route_rule(o, mode="cheap")),
    ("routing_tenant_min_margin_range", "101%", lambda o: tenant_row(o, min_margin_percent=101)),
    ("routing_tenant_min_margin_range", "-1%", lambda o: tenant_row(o, min_margin_percent=-1)),
    ("routing_tenant_pricing_valid", "markup, no policy", lambda o: tenant_row(o, markup=5)),
    (
        "routing_tenant_pricing_valid",
        "percent 1001",
        lambda o: tenant_row(o, pricing="percent", markup=1001),
    ),
    (
        "routing_tenant_pricing_valid",
        "fixed, no currency",
        lambda o: tenant_row(o, pricing="fixed", markup=1),
    ),
    ("routing_tenant_pricing_valid", "policy cheap", lambda o: tenant_row(o, pricing="cheap")),
    (
        "routing_tenant_no_profit_code_range",
        "code 200",
        lambda o: tenant_row(o, no_profit_code=200),
    ),
    # Portability
    ("routing_lnprule_unique_global_prefix", "global twice", twice(lnp_rule)),
    (
        "routing_lnprule_unique_tenant_prefix",
        "tenant twice",
        twice(lambda o: lnp_rule(o, tenant=o.tenant)),
    ),
    ("routing_lnprule_prefix_digits", "prefix +1", lambda o: lnp_rule(o, prefix="+1")),
    ("routing_portednumber_number_e164", "leading 0", lambda o: ported(o, number="0123")),
    ("routing_portednumber_number_e164", "empty", lambda o: ported(o, number="")),
    ("routing_portednumber_lrn_e164", "lrn letters", lambda o: ported(o, lrn="1312x")),
    ("routing_portednumber_lrn_e164", "lrn empty", lambda o: ported(o, lrn="")),
    # The version row
    (
        "routing_routingversion_singleton",
        "second row",
        lambda o: RoutingVersion.objects.create(id=2),
    ),
]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("constraint", "make"),
    [pytest.param(name, make, id=f"{name}-{label}") for name, label, make in CASES],
)
def test_constraint_refuses_a_bad_row(
    objs: Objects, constraint: str, make: Callable[[Objects], object]
) -> None:
    with pytest.raises(IntegrityError) as error, transaction.atomic():
        make(objs)
    if connection.vendor == "postgresql":
        # A partitioned table's unique constraint is enforced by each partition's own index
        # (named after the partition): its key columns say which constraint it is.
        partition_keys = {"routing_callrecord_key": "(call_id, kind, attempt, start_time)"}
        assert constraint in str(error.value) or partition_keys.get(constraint, "\0") in str(
            error.value
        )


@pytest.mark.django_db
def test_an_update_cannot_bypass_a_constraint(objs: Objects) -> None:
    with pytest.raises(IntegrityError, match="routing_gateway_port_range"), transaction.atomic():
        Gateway.objects.filter(pk=objs.gateway.pk).update(port=70000)
    objs.gateway.refresh_from_db()
    assert objs.gateway.port == 5060


@pytest.mark.parametrize(
    ("model", "values"),
    [
        (Tenant, {"name": "Acme Corp"}),
        (Carrier, {"name": "Alpha Telecom"}),
        (RouterInstance, {"name": "edge1", "listen_ip": "127.0.0.1", "api_urls": "http://a/"}),
    ],
)
@pytest.mark.django_db
def test_names_are_unique(model: type[models.Model], values: dict[str, object]) -> None:
    model._default_manager.create(**values)
    with pytest.raises(IntegrityError), transaction.atomic():
        model._default_manager.create(**values)


@pytest.mark.django_db
def test_domain_names_and_networks_are_unique(objs: Objects) -> None:
    objs.tenant.domains.create(name="domain.com")
    with pytest.raises(IntegrityError), transaction.atomic():
        objs.tenant.domains.create(name="domain.com")
    source(objs)
    with pytest.raises(IntegrityError), transaction.atomic():
        source(objs, carrier=None, pbx=objs.pbx)


@pytest.mark.django_db
def test_good_rows_pass_every_constraint(objs: Objects) -> None:
    # The cases above differ from these rows by one value: the refusals are that value's.
    gateway(objs, weight=1000, strip=20, port=65535, fr_timer=100, fr_inv_timer=600_000)
    pbx(objs, port=1, transport="tls", fr_timer=120_000, fr_inv_timer=1000)
    did(objs, match=DidMatch.RANGE, range_end="33123456799")
    did(objs, number="4420", match=DidMatch.PREFIX)
    source(objs)
    normalization(objs, pbx=objs.pbx, carrier=None, priority=1000, strip=20)
    normalization(objs, kind="regex", pattern="^0(.*)$", strip=0)
    route_rule(objs, priority=1000, start_time=T18, end_time=T9)
    target(objs, order=99, weight=1000)
    target(objs, carrier=None, gateway=objs.gateway, order=0, weight=1)
    number_list(objs, code=400, tenant=objs.tenant)
    number_list(objs, name="list-y", code=699, carrier=objs.carrier, mode="allow", side="caller")
    list_entry(objs, match="range", number="3389", range_end="3389")
    list_entry(objs, match="prefix")
    lnp_rule(objs)
    lnp_rule(objs, tenant=objs.tenant)
    lnp_rule(objs, prefix="")
    ported(objs, number="1" * 15, lrn="9" * 15)
    ported(objs, number="1", lrn="1")
    instance(objs, listen_port=65535, api_timeout_ms=30_000, transport="tcp",
             api_breaker_failures=1000, api_breaker_seconds=86_400)  # fmt: skip
    policy(objs, probe_interval=3600, down_after=100, up_after=1, demote_window=10,
           demote_min_attempts=1, demote_start=99, demote_end=100)  # fmt: skip
    policy(objs, name="p2", probe_interval=1, down_after=1, up_after=100,
           down_policy="last", demote_window=86_400, demote_min_attempts=100_000,
           demote_start=0, demote_end=1)  # fmt: skip
    health(objs, state="off", skip_probability=1.0)
    health_event(objs, state="up")


def test_every_constraint_has_a_case() -> None:
    declared = {
        constraint.name
        for model in apps.get_app_config("routing").get_models()
        for constraint in model._meta.constraints
    }
    covered = {name for name, _label, _make in CASES}
    assert declared == covered
