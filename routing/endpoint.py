"""POST /kamailio/rtjson, independent of the web framework.

handle_rtjson() is the whole endpoint: who may ask, parse, decide, serialise. The DRF view
(routing.views) and the lean ASGI handler (c4router.asgi) are thin adapters around it, so
both give byte-identical answers. No database access: the table comes from the holder.
"""

from __future__ import annotations

import functools
import hmac
import ipaddress
import logging
import random
from datetime import UTC, datetime
from time import perf_counter

import orjson
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from routing.engine.decide import decide
from routing.engine.query import QueryError, parse_query
from routing.engine.rtjson import answer_bytes
from routing.engine.table import Table, token_digest
from routing.loader import holder
from routing.metrics import TALLY

logger = logging.getLogger("c4router.routing")

TOKEN_HEADER = "X-C4-Token"  # noqa: S105 - a header name, not a secret
_rng = random.Random()


# The answer while c4router's own queue is too long: Kamailio relays it as it is.
OVERLOADED = b'{"rtjson":{"success":false,"code":503,"reason":"Overloaded"}}'


def _error(status: int, message: str) -> tuple[int, bytes]:
    return status, orjson.dumps({"error": message})


_allowed_clients: dict[tuple[str, str], bool] = {}


@receiver(setting_changed)
def _forget_allowed_clients(setting: str, **kwargs: object) -> None:
    if setting == "C4ROUTER":
        _allowed_clients.clear()


def client_allowed(client_ip: str | None, networks: str = "API_ALLOWED_NETS") -> bool:
    """Is the client in the C4ROUTER[networks] list? Remembered per address: the clients
    are a handful of Kamailio, load balancer and Prometheus hosts."""
    if not client_ip:
        return False
    allowed = _allowed_clients.get((networks, client_ip))
    if allowed is None:
        try:
            address = ipaddress.ip_address(client_ip)
        except ValueError:
            return False
        allowed = any(address in net for net in settings.C4ROUTER[networks])
        if len(_allowed_clients) > 4096:
            _allowed_clients.clear()
        _allowed_clients[networks, client_ip] = allowed
    return allowed


@functools.cache
def _secret_digest(secret: str) -> bytes:
    """The digest of the configured shared token (a setting: one or two values per process)."""
    return token_digest(secret.encode())


def _token_allowed(token: str, table: Table) -> bool:
    """Is this X-C4-Token the shared token or an enabled router instance's?

    Tokens are compared as SHA-256 digests of their bytes (see table.token_digest): in
    constant time with respect to the secrets, and any header value is just a value. The
    header's bytes are those on the wire: ASGI and WSGI servers decode header values as
    latin-1, and a str that does not encode back (a test client's) was never sent as bytes.
    """
    if not token:
        # C4ROUTER_API_TOKEN_REQUIRED=0: the client's network (checked before) is enough.
        # A token that is sent is still checked: a wrong one is a misconfigured Kamailio or
        # a disabled instance's, and must be refused in both modes.
        return not settings.C4ROUTER["API_TOKEN_REQUIRED"]
    try:
        digest = token_digest(token.encode("latin-1"))
    except UnicodeEncodeError:
        return False
    configured = settings.C4ROUTER["API_TOKEN"]
    if configured and hmac.compare_digest(digest, _secret_digest(configured)):
        return True
    return digest in table.token_digests


class _BadQueryLog:
    """At most one WARNING a second about malformed queries, with how many were not shown:
    a broken or hostile client must not flood the log."""

    interval = 1.0
    last = float("-inf")
    suppressed = 0


def _warn_bad_query(client_ip: str | None, exc: QueryError) -> None:
    now = perf_counter()
    if now - _BadQueryLog.last < _BadQueryLog.interval:
        _BadQueryLog.suppressed += 1
        return
    more = (
        f" (and {_BadQueryLog.suppressed} more since the last report)"
        if _BadQueryLog.suppressed
        else ""
    )
    logger.warning("bad routing query from %s: %s%s", client_ip, exc, more)
    _BadQueryLog.last, _BadQueryLog.suppressed = now, 0


def handle_rtjson(
    body: bytes,
    *,
    content_type: str,
    token: str,
    client_ip: str | None,
    now: datetime | None = None,
    overloaded: bool = False,
) -> tuple[int, bytes]:
    """(HTTP status, JSON body) for one routing query. `overloaded`: c4router's own queue is
    too long (c4router/asgi.py): an authorised query gets a 503 refusal, without a
    decision."""
    started = perf_counter()
    if not client_allowed(client_ip):
        TALLY.outcome("forbidden_client")
        return _error(403, f"client {client_ip} is not allowed to query routes")
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        TALLY.outcome("bad_request")
        return _error(415, f"Content-Type must be application/json, not {media_type or 'empty'}")
    table = holder.get()
    if table is None:
        TALLY.outcome("not_ready")
        return _error(503, "routing table not loaded yet (/readyz says why)")
    if not _token_allowed(token, table):
        TALLY.outcome("forbidden_client")
        return _error(403, f"missing or unknown {TOKEN_HEADER} header")
    if overloaded:
        TALLY.outcome("overloaded")
        return 200, OVERLOADED
    try:
        query = parse_query(body)
    except QueryError as exc:
        TALLY.outcome("bad_request")
        _warn_bad_query(client_ip, exc)
        return _error(400, str(exc))
    decision = decide(query, table, now or datetime.now(UTC), _rng)
    answer = answer_bytes(decision)
    TALLY.answered(
        decision.code, len(decision.routes), started, decision.listed is not None, decision.outcome
    )
    if decision.routed:
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "call-id=%s routed: %s", query.call_id, decision.why,
                extra={"call_id": query.call_id},
            )  # fmt: skip
    elif logger.isEnabledFor(logging.DEBUG):
        # A line per call, even per refused call, costs more than the decision itself at
        # hundreds of calls per second: DEBUG (ROUTING_LOG_LEVEL=DEBUG shows them). The
        # counts by outcome are in /metrics; `manage.py route` explains any one call.
        logger.debug(
            "call-id=%s refused %s %s: %s", query.call_id, decision.code, decision.reason,
            decision.why, extra={"call_id": query.call_id},
        )  # fmt: skip
    return 200, answer
