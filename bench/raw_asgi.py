"""The ceiling: a minimal ASGI app answering every request with a fixed rtjson body.

It reads the request body (as c4router does) and sends the same headers c4router's lean
handler sends, with a body of the size of a typical routed answer: the file named by
RAW_ASGI_BODY_FILE (bench/run writes a median-size answer of c4router to it), else the
built-in one below. No Django, no routing: what the server and the load generator alone
cost on this machine, under the same server settings as c4router.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

Message = MutableMapping[str, Any]

_DEFAULT_BODY = (
    b'{"rtjson":{"success":true,"version":"1.0","routing":"serial","routes":[{"uri":'
    b'"sip:34836909468@198.19.4.3:5060","dst_uri":"sip:198.19.4.3:5060","path":"","socket":"",'
    b'"headers":{"from":{"display":"Support","uri":"sip:1719576440@sip.epsilon.example"},"to":'
    b'{"display":"","uri":"sip:34836909468@198.19.4.3"},"extra":""},"branch_flags":0,'
    b'"fr_timer":3000,"fr_inv_timer":30000},{"uri":"sip:1234%2334836909468@198.19.2.4:5060",'
    b'"dst_uri":"sip:198.19.2.4:5060","path":"","socket":"","headers":{"from":{"display":'
    b'"Support","uri":"sip:1719576440@sip.gamma.example"},"to":{"display":"","uri":'
    b'"sip:1234%2334836909468@198.19.2.4"},"extra":""},"branch_flags":0,"fr_timer":5000,'
    b'"fr_inv_timer":30000}]}}'
)
_path = os.environ.get("RAW_ASGI_BODY_FILE")
BODY = Path(_path).read_bytes() if _path else _DEFAULT_BODY
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def application(
    scope: MutableMapping[str, Any],
    receive: Callable[[], Awaitable[Message]],
    send: Callable[[Message], Awaitable[None]],
) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        if not message.get("more_body", False):
            break
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
