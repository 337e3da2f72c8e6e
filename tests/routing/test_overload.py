"""c4router's own queue: while its event loop lags past C4ROUTER_OVERLOAD_LAG_MS, routing
queries get a 503 refusal at once instead of a decision that would come too late.

The lag is real: the test blocks the event loop, as a backlog of requests does, and the
watcher of c4router/asgi.py measures it.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import orjson

from c4router import asgi

from .conftest import TOKEN
from .test_endpoint import URL, outbound


def test_a_lagging_event_loop_answers_503_at_once_then_routes_again(live_table, settings):
    settings.C4ROUTER_OVERLOAD_LAG_MS = 100
    asgi._Lag.watcher, asgi._Lag.seconds = None, 0.0

    async def run() -> list[dict]:
        transport = httpx.ASGITransport(app=asgi.application, client=("127.0.0.1", 40000))
        headers = {"Content-Type": "application/json", "X-C4-Token": TOKEN}
        answers = []
        async with httpx.AsyncClient(transport=transport, base_url="http://c4router") as http:

            async def ask() -> None:
                response = await http.post(URL, content=outbound(), headers=headers)
                assert response.status_code == 200
                answers.append(orjson.loads(response.content)["rtjson"])

            await ask()  # starts the watcher (no lifespan here)
            await asyncio.sleep(0.05)
            time.sleep(0.4)  # the loop is stuck: every request waits 400 ms
            await asyncio.sleep(0.001)  # the watcher, due long ago, wakes first: late
            await ask()
            await asyncio.sleep(0.3)  # the loop runs freely again
            await ask()
            asgi._Lag.watcher.cancel()  # type: ignore[union-attr]
        return answers

    routed, refused, again = asyncio.run(run())
    assert routed["success"] is True
    assert refused == {"success": False, "code": 503, "reason": "Overloaded"}
    assert again["success"] is True


def test_an_unknown_client_is_not_told_about_the_load(live_table, settings):
    settings.C4ROUTER_OVERLOAD_LAG_MS = 100
    asgi._Lag.watcher, asgi._Lag.seconds = None, 0.0

    async def run() -> int:
        transport = httpx.ASGITransport(app=asgi.application, client=("127.0.0.1", 40000))
        headers = {"Content-Type": "application/json", "X-C4-Token": "not-a-token"}
        async with httpx.AsyncClient(transport=transport, base_url="http://c4router") as http:
            await http.post(URL, content=outbound(), headers=headers)  # starts the watcher
            await asyncio.sleep(0.05)
            time.sleep(0.4)
            await asyncio.sleep(0.001)
            assert asgi.overloaded()
            response = await http.post(URL, content=outbound(), headers=headers)
            asgi._Lag.watcher.cancel()  # type: ignore[union-attr]
            return response.status_code

    assert asyncio.run(run()) == 403


def test_no_bound_no_refusal(live_table, settings):
    settings.C4ROUTER_OVERLOAD_LAG_MS = 0
    asgi._Lag.watcher, asgi._Lag.seconds = None, 10.0  # whatever the lag
    assert not asgi.overloaded()
