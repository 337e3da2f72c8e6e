"""The routing data model: what a class-4 operator manages."""

from routing.models.base import Transport
from routing.models.carriers import Carrier, Gateway
from routing.models.cdr import (
    CallDirection,
    CallRecord,
    CdrKind,
    Hangup,
    TrafficCodeRollup,
    TrafficCodeRollupHour,
    TrafficMoneyRollup,
    TrafficMoneyRollupHour,
    TrafficRollup,
    TrafficRollupHour,
)
from routing.models.dids import Did, DidMatch
from routing.models.health import (
    DownPolicy,
    GatewayHealth,
    GatewayHealthEvent,
    HealthPolicy,
    HealthState,
)
from routing.models.instances import ListenTransport, RouterInstance
from routing.models.lists import EntryMatch, ListMode, ListSide, NumberList, NumberListEntry
from routing.models.lnp import LnpRule, PortedNumber, validate_e164
from routing.models.normalization import Direction, NormalizationRule, NumberField, RuleKind
from routing.models.rates import ExchangeRate, Rate, RateDeck
from routing.models.rules import RouteRule, RouteTarget, RuleAction, RuleMode
from routing.models.sources import IpSource
from routing.models.tenants import Domain, Pbx, Pricing, Tenant
from routing.models.version import (
    Changes,
    RoutingChange,
    RoutingVersion,
    bump_health_version,
    bump_routing_version,
    changes_between,
    current_routing_version,
    current_versions,
    record_changes,
)

__all__ = [
    "CallDirection",
    "CallRecord",
    "Carrier",
    "CdrKind",
    "Changes",
    "Did",
    "DidMatch",
    "Direction",
    "Domain",
    "DownPolicy",
    "EntryMatch",
    "ExchangeRate",
    "Gateway",
    "GatewayHealth",
    "GatewayHealthEvent",
    "Hangup",
    "HealthPolicy",
    "HealthState",
    "IpSource",
    "ListMode",
    "ListSide",
    "ListenTransport",
    "LnpRule",
    "NormalizationRule",
    "NumberField",
    "NumberList",
    "NumberListEntry",
    "Pbx",
    "PortedNumber",
    "Pricing",
    "Rate",
    "RateDeck",
    "RouteRule",
    "RouteTarget",
    "RouterInstance",
    "RoutingChange",
    "RoutingVersion",
    "RuleAction",
    "RuleKind",
    "RuleMode",
    "Tenant",
    "TrafficCodeRollup",
    "TrafficCodeRollupHour",
    "TrafficMoneyRollup",
    "TrafficMoneyRollupHour",
    "TrafficRollup",
    "TrafficRollupHour",
    "Transport",
    "bump_health_version",
    "bump_routing_version",
    "changes_between",
    "current_routing_version",
    "current_versions",
    "record_changes",
    "validate_e164",
]

# Models whose changes alter routing answers (the signals bump the version for these).
ROUTING_MODELS = (
    Tenant,
    Domain,
    Pbx,
    Carrier,
    Gateway,
    IpSource,
    Did,
    RouteRule,
    RouteTarget,
    NormalizationRule,
    RouterInstance,
    NumberList,
    NumberListEntry,
    HealthPolicy,
    RateDeck,
    Rate,
    ExchangeRate,
    LnpRule,
    PortedNumber,
)
# GatewayHealth is not among them: its writers (routing.carrier_health) bump the health
# version, which the workers apply without reading the rest of the routing data.
