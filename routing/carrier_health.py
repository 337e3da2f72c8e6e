"""Carrier health on c4router's side: Kamailio's probe reports, and passive demotion.

POST /kamailio/health: a router instance says a gateway went down or came back (its
probes, see the "carrier health" section of kamailio_cfg/kamailio.cfg). Authenticated like
/kamailio/rtjson (the client's network and the instance's X-C4-Token), strict grammar:

    {"gateway": 12, "state": "down", "reason": "3 probes failed, last: 408 timeout"}

gateway: the id of an existing gateway; state: "up" or "down"; reason: optional, printable
text of at most 200 characters. Anything else (another key, a wrong type, a gateway that
does not exist) is refused with 400 and nothing is written. A change is stored
(GatewayHealth, and a GatewayHealthEvent for the history) and bumps the health version:
at their next poll the workers read the health rows again and swap them into their table,
nothing else (about 5 ms, against the 40-100 ms of a small-table patch at 100k
prefixes: a flapping gateway must not cost every worker a patch per flap).

Passive demotion (update_demotions) is counted here, from the call records, not in
Kamailio: the records of every edge land in the same table, so a gateway failing for
several edges is demoted for all of them, and the state survives a Kamailio restart; the
cost is the records' path (RabbitMQ, the ingester: about a second), against the 2 s a
Kamailio-local counter would save. See the README's "Carrier health".
"""

from __future__ import annotations

import hmac
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from routing.endpoint import TOKEN_HEADER, _error, _token_allowed, client_allowed
from routing.engine.table import token_digest
from routing.loader import holder
from routing.models import (
    Gateway,
    GatewayHealth,
    GatewayHealthEvent,
    HealthPolicy,
    HealthState,
    RouterInstance,
    bump_health_version,
)
from routing.models.health import REASON_MAX

logger = logging.getLogger("c4router.health")

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
REPORT_KEYS = frozenset({"gateway", "state", "reason"})
REPORT_STATES = (HealthState.UP.value, HealthState.DOWN.value)
MAX_BODY = 4096


class ReportError(ValueError):
    """A report that does not follow the grammar: the message says what is wrong."""


@dataclass(frozen=True)
class Report:
    gateway_id: int
    state: str
    reason: str


def parse_report(body: bytes) -> Report:
    if len(body) > MAX_BODY:
        raise ReportError(f"body over {MAX_BODY} bytes")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ReportError(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ReportError("the body must be a JSON object")
    unknown = sorted(set(data) - REPORT_KEYS)
    if unknown:
        raise ReportError(f"unknown key(s): {', '.join(unknown)}")
    gateway = data.get("gateway")
    if isinstance(gateway, bool) or not isinstance(gateway, int) or not 0 < gateway < 2**63:
        raise ReportError("gateway must be a gateway id (a positive integer)")
    state = data.get("state")
    if state not in REPORT_STATES:
        raise ReportError(f"state must be one of {', '.join(REPORT_STATES)}")
    reason = data.get("reason", "")
    if not isinstance(reason, str) or len(reason) > REASON_MAX:
        raise ReportError(f"reason must be text of at most {REASON_MAX} characters")
    if _CONTROL.search(reason):
        raise ReportError("reason: one line of text, without control characters")
    return Report(gateway, state, reason)


def _instance_name(token: str) -> str:
    """Which router instance reports (its name, for the history); '' for the shared token."""
    if not token:
        return ""
    digest = token_digest(token.encode("latin-1", "replace"))
    for name, value in RouterInstance.objects.filter(enabled=True).values_list("name", "token"):
        if hmac.compare_digest(token_digest(value.encode()), digest):
            return name
    return ""


def record_state(
    gateway_id: int, state: str, reason: str, reported_by: str = "", now: datetime | None = None
) -> bool:
    """Store a gateway's new state and its history row; False when it was already in that
    state (nothing written). Raises Gateway.DoesNotExist."""
    now = now or timezone.now()
    with transaction.atomic():
        gateway = Gateway.objects.select_for_update().get(pk=gateway_id)
        health = GatewayHealth.objects.filter(gateway=gateway).first()
        if health is not None and health.state == state:
            return False
        if health is None:
            health = GatewayHealth(gateway=gateway)
        health.state, health.since, health.reason = state, now, reason
        health.reported_by = reported_by
        health.save()
        GatewayHealthEvent.objects.create(
            gateway=gateway, at=now, state=state, reason=reason, reported_by=reported_by
        )
        bump_health_version()  # the workers swap in the new health rows, nothing else
    logger.warning(
        "gateway %s (#%s) is %s (%s, reported by %s)",
        gateway.name, gateway_id, state, reason or "no reason given", reported_by or "?",
    )  # fmt: skip
    return True


def handle_health_report(
    body: bytes, *, content_type: str, token: str, client_ip: str | None
) -> tuple[int, bytes]:
    """(HTTP status, JSON body) for one report."""
    if not client_allowed(client_ip):
        return _error(403, f"client {client_ip} is not allowed to report health")
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        return _error(415, f"Content-Type must be application/json, not {media_type or 'empty'}")
    table = holder.get() or holder.ensure_loaded()
    if table is None:
        return _error(503, "routing table not loaded yet (/readyz says why)")
    if not _token_allowed(token, table):
        return _error(403, f"missing or unknown {TOKEN_HEADER} header")
    try:
        report = parse_report(body)
    except ReportError as exc:
        return _error(400, str(exc))
    try:
        changed = record_state(
            report.gateway_id, report.state, report.reason, _instance_name(token)
        )
    except Gateway.DoesNotExist:
        return _error(400, f"gateway {report.gateway_id} does not exist")
    return 200, orjson.dumps({"gateway": report.gateway_id, "state": report.state,
                              "changed": changed})  # fmt: skip


# --- passive demotion ----------------------------------------------------------------------


def skip_probability(attempts: int, failures: int, policy: HealthPolicy) -> float:
    """The linear ramp: 0 below `demote_start` % of failures (or below the minimum attempts),
    1 at `demote_end` %, in between proportionally."""
    if attempts < policy.demote_min_attempts or attempts <= 0:
        return 0.0
    share = 100.0 * failures / attempts
    if share <= policy.demote_start:
        return 0.0
    if share >= policy.demote_end:
        return 1.0
    return (share - policy.demote_start) / (policy.demote_end - policy.demote_start)


# The stored probability moves by steps of this much at least: a rate that wobbles must not
# bump the routing version (a patch in every worker) at every recount.
PROBABILITY_STEP = 0.05


def update_demotions(now: datetime | None = None, using: str = "default") -> int:
    """Recount every demoting gateway's attempts and failures over its policy's window, from
    the call records, and store the skip probabilities that moved (each a health version
    bump) and the figures that changed; how many probabilities moved."""
    from routing.models import CallRecord, CdrKind

    now = now or timezone.now()
    policies = {p.id: p for p in HealthPolicy.objects.using(using).filter(demote=True)}
    gateways = list(
        Gateway.objects.using(using).values_list(
            "id", "health_policy_id", "carrier__health_policy_id"
        )
    )
    watched = {gid: policies[own or carrier] for gid, own, carrier in gateways
               if (own or carrier) in policies}  # fmt: skip
    stored = {
        row.gateway_id: row
        for row in GatewayHealth.objects.using(using).filter(
            gateway_id__in=[g for g, *_ in gateways]
        )
    }
    moved = 0
    by_window: dict[int, list[int]] = {}
    for gid, policy in watched.items():
        by_window.setdefault(policy.demote_window, []).append(gid)
    counts: dict[int, tuple[int, int]] = {}
    for window, ids in by_window.items():
        since = now - timedelta(seconds=window)
        rows = (
            CallRecord.objects.using(using)
            .filter(kind=CdrKind.ATTEMPT, gateway_id__in=ids, start_time__gte=since)
            .values_list("gateway_id", "sip_code")
            .annotate(n=Count("*"))
            .order_by()
        )
        for gid, code, n in rows:
            total, failed = counts.get(gid, (0, 0))
            counts[gid] = (total + n, failed + (n if code in _codes(watched[gid]) else 0))
    for gid in set(watched) | {g for g, row in stored.items() if row.skip_probability}:
        policy = watched.get(gid)
        attempts, failures = counts.get(gid, (0, 0))
        probability = skip_probability(attempts, failures, policy) if policy else 0.0
        row = stored.get(gid)
        old = row.skip_probability if row is not None else 0.0
        ends = probability in (0.0, 1.0) and old != probability
        moves = abs(probability - old) >= PROBABILITY_STEP or ends
        if (
            row is not None
            and not moves
            and (row.window_attempts, row.window_failures)
            == (
                attempts,
                failures,
            )
        ):
            continue
        if row is None:
            if not moves:
                continue
            row = GatewayHealth(gateway_id=gid)
        row.window_attempts, row.window_failures = attempts, failures
        with transaction.atomic(using=using):
            if moves:
                row.skip_probability = probability
                row.save(using=using)
                bump_health_version(using)  # the answers change: the workers swap it in
            else:
                # The figures only (the admin, the API): the answers do not change.
                row.save(using=using, update_fields=["window_attempts", "window_failures"])
        if moves:
            moved += 1
            logger.warning(
                "gateway #%s: %s failures in %s attempts, skip probability %.0f%%",
                gid, failures, attempts, probability * 100,
            )  # fmt: skip
    return moved


_code_cache: dict[tuple[int, str], frozenset[int]] = {}


def _codes(policy: HealthPolicy) -> frozenset[int]:
    key = (policy.id, policy.demote_codes)
    codes = _code_cache.get(key)
    if codes is None:
        codes = _code_cache[key] = frozenset(policy.demote_code_list)
    return codes
