"""ASGI entry point: gunicorn with uvicorn workers, or uvicorn, serve `application`.

POST /kamailio/rtjson is answered here, before Django's request cycle: Kamailio asks once
per call, and Django's middleware and URL resolution would cost more than the routing
decision itself. The answer comes from the same routing.endpoint.handle_rtjson() the DRF
view calls, so the two paths give identical answers (tests/routing/test_lean_asgi.py).
/healthz, /readyz and /metrics are answered here too. Everything else (admin, API) goes to
Django. C4ROUTER_LEAN_ASGI=0 sends the
routing endpoint through Django too.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from django.conf import settings
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "c4router.settings")

django_application = get_asgi_application()  # sets Django up before the imports below
# The event loop gets the GIL back within this long when another thread of the worker
# computes (the reload thread patching the table after an import, an export's batches):
# Python's 5 ms default showed as 5-18 ms of loop lag per wake-up (bench/gil_lag.py).
sys.setswitchinterval(settings.C4ROUTER["SWITCH_INTERVAL_US"] / 1_000_000)

from routing import health  # noqa: E402
from routing.endpoint import client_allowed, handle_rtjson  # noqa: E402
from routing.engine.query import MAX_BODY  # noqa: E402
from routing.loader import holder  # noqa: E402

# As Django's ASGIHandler types them (django-stubs), so that mypy checks the hand-off.
Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[Mapping[str, Any]], Awaitable[None]]

RTJSON_PATH = "/kamailio/rtjson"
_JSON_HEADERS = [(b"content-type", b"application/json")]


async def _read_body(receive: Receive) -> bytes | None:
    chunks = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        chunks.append(chunk)
        if size > MAX_BODY or not message.get("more_body", False):
            # Past MAX_BODY, stop reading: what we have is already more than parse_query
            # accepts, and it says so ("body: larger than ...").
            return b"".join(chunks)


async def _respond(send: Send, status: int, body: bytes, content_type: str) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type.encode("latin-1")),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _probe(scope: Scope, send: Send) -> None:
    path = scope["path"]
    client = scope.get("client")
    ip = client[0] if client else None
    if path == "/healthz":
        answer = health.healthz()
    elif path == "/readyz":
        answer = health.readyz(client_allowed(ip, "METRICS_ALLOWED_NETS"))
    else:
        answer = health.metrics_page(ip, client_allowed(ip, "METRICS_ALLOWED_NETS"))
    await _respond(send, *answer)


PROBES = frozenset({"/healthz", "/readyz", "/metrics"})


# --- overload: c4router's own queue ---------------------------------------------------------
# Every request waits its turn on the event loop before it is handled. A watcher wakes every
# LAG_TICK_S and measures how late it woke: the loop's lag, how long a request waits now.
# Past C4ROUTER_OVERLOAD_LAG_MS, routing queries (from allowed clients with a valid token)
# are answered at once with a refusal, code 503 "Overloaded", without a decision
# (routing.endpoint.handle_rtjson): the queue drains at the speed of that answer instead
# of growing, and Kamailio relays the refusal as it is (kamailio.cfg, "overload"), rather
# than waiting for an answer that comes too late or trying another API URL.
LAG_TICK_S = 0.01
LAG_DECAY = 0.8


class _Lag:
    seconds = 0.0
    watcher: asyncio.Task[None] | None = None


async def _watch_lag() -> None:
    loop = asyncio.get_running_loop()
    while True:
        start = loop.time()
        await asyncio.sleep(LAG_TICK_S)
        # The worst lag, forgotten by a fifth at each tick: a backlog lasts tens of ms
        # after the loop last woke late, not one tick (no flapping between ticks).
        _Lag.seconds = max(loop.time() - start - LAG_TICK_S, _Lag.seconds * LAG_DECAY)


def _start_lag_watcher() -> None:
    """Watch this event loop's lag (again: a watcher of a closed loop is done, and its last
    figure is no longer this loop's)."""
    if settings.C4ROUTER_OVERLOAD_LAG_MS and (_Lag.watcher is None or _Lag.watcher.done()):
        _Lag.seconds = 0.0
        _Lag.watcher = asyncio.get_running_loop().create_task(_watch_lag())


def overloaded() -> bool:
    bound = settings.C4ROUTER_OVERLOAD_LAG_MS
    return bool(bound) and _Lag.seconds * 1000 > bound


async def _rtjson(scope: Scope, receive: Receive, send: Send) -> None:
    body = await _read_body(receive)
    if body is None:
        return
    if _Lag.watcher is None or _Lag.watcher.done():
        _start_lag_watcher()  # a server without lifespan events, a new event loop
    if holder.get() is None:
        # No table yet (the database was down at start-up): try now, off the event loop.
        await asyncio.to_thread(holder.ensure_loaded)
    content_type = token = ""
    for name, value in scope["headers"]:
        if name == b"content-type":
            content_type = value.decode("latin-1")
        elif name == b"x-c4-token":
            token = value.decode("latin-1")
    client = scope.get("client")
    status, answer = handle_rtjson(
        body,
        content_type=content_type,
        token=token,
        client_ip=client[0] if client else None,
        overloaded=overloaded(),
    )
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*_JSON_HEADERS, (b"content-length", str(len(answer)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": answer})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            # Build the routing table before the first call, not during it (in a thread:
            # the ORM refuses to run on the event loop).
            await asyncio.to_thread(holder.ensure_loaded)
            _start_lag_watcher()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            holder.stop_polling()
            await send({"type": "lifespan.shutdown.complete"})
            return


LEAN = os.environ.get("C4ROUTER_LEAN_ASGI", "1") != "0"


async def application(scope: Scope, receive: Receive, send: Send) -> None:
    kind = scope["type"]
    if kind == "http":
        if LEAN and scope["path"] == RTJSON_PATH and scope["method"] == "POST":
            await _rtjson(scope, receive, send)
            return
        if scope["path"] in PROBES and scope["method"] in {"GET", "HEAD"}:
            # Health and metrics skip Django too: load balancers and Prometheus call them
            # by address, without a Host Django would know, and must not cost a request cycle.
            await _probe(scope, send)
            return
    elif kind == "lifespan":
        await _lifespan(receive, send)
        return
    await django_application(scope, receive, send)
