"""Static files under ASGI, and the favicon: no log line per file on every admin page.

c4router is served under ASGI; WhiteNoise's file answers made Django log "StreamingHttpResponse
must consume synchronous iterators" for every CSS/JS file and every 304, and /favicon.ico
was a 404 ("Not Found: /favicon.ico") on every first visit. The tests call the ASGI
application the way uvicorn does.
"""

from __future__ import annotations

import asyncio
import warnings
from pathlib import Path

import django.contrib.admin
import pytest
from asgiref.sync import async_to_sync
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client

from c4router.staticfiles import BLOCK_SIZE

ADMIN_STATIC = Path(django.contrib.admin.__file__).parent / "static" / "admin"
FAVICON = Path(__file__).resolve().parents[1] / "c4router" / "public" / "favicon.ico"
# The admin's biggest file, read in several blocks.
BIG = "admin/js/vendor/select2/select2.full.js"


def get_under_asgi(path: str, **headers: str) -> tuple[int, dict[str, str], bytes, list[str]]:
    """GET path from c4router's ASGI application as uvicorn calls it: status, headers,
    body and the warnings logged while answering and sending it."""
    from c4router.asgi import application

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"localhost")]
        + [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    sent: list[dict[str, object]] = []

    async def run() -> None:
        requested = False
        done = asyncio.Event()

        async def receive() -> dict[str, object]:
            nonlocal requested
            if not requested:
                requested = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await done.wait()  # the client stays connected until the answer is sent
            return {"type": "http.disconnect"}

        async def send(message: dict[str, object]) -> None:
            sent.append(message)

        await application(scope, receive, send)
        done.set()

    # As Django's test client does: the handler's connection housekeeping would touch the
    # suite's database connection, which a static file never needs.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            async_to_sync(run)()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    start = sent[0]
    assert start["type"] == "http.response.start"
    answer_headers = {
        k.decode().title(): v.decode()
        for k, v in start["headers"]  # type: ignore[attr-defined]
    }
    body = b"".join(m.get("body", b"") for m in sent[1:])  # type: ignore[misc]
    return int(start["status"]), answer_headers, body, [str(w.message) for w in caught]  # type: ignore[call-overload]


def test_a_static_file_streams_under_asgi_without_a_warning() -> None:
    expected = (ADMIN_STATIC.parent / BIG).read_bytes()
    assert len(expected) > 2 * BLOCK_SIZE

    status, headers, body, logged = get_under_asgi(f"/static/{BIG}")

    assert status == 200
    assert body == expected
    assert headers["Content-Length"] == str(len(expected))
    assert headers["Content-Type"].startswith("text/javascript")
    assert logged == []


def test_a_not_modified_answer_under_asgi_has_no_warning_either() -> None:
    status, headers, _, _ = get_under_asgi("/static/admin/css/base.css")
    assert status == 200

    status, _, body, logged = get_under_asgi(
        "/static/admin/css/base.css", if_none_match=headers["Etag"]
    )
    assert (status, body) == (304, b"")
    assert logged == []


def test_static_files_under_wsgi_are_unchanged() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        response = Client().get("/static/admin/css/base.css")
        body = b"".join(response.streaming_content)
    assert response.status_code == 200
    assert body == (ADMIN_STATIC / "css" / "base.css").read_bytes()
    assert [str(w.message) for w in caught] == []


@pytest.mark.parametrize("serve", ["asgi", "wsgi"])
def test_the_favicon_is_served_at_the_root(serve: str) -> None:
    if serve == "asgi":
        status, headers, body, logged = get_under_asgi("/favicon.ico")
        assert logged == []
    else:
        response = Client().get("/favicon.ico")
        status, headers = response.status_code, dict(response.headers)
        body = b"".join(response.streaming_content)
    assert status == 200
    assert headers["Content-Type"] in {"image/x-icon", "image/vnd.microsoft.icon"}
    assert body == FAVICON.read_bytes()
    assert body[:4] == b"\x00\x00\x01\x00"  # an icon resource (ICO)
