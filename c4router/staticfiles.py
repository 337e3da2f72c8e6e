"""Static files (WhiteNoise) served without a warning per file under ASGI.

c4router runs under ASGI (uvicorn, gunicorn with uvicorn workers). WhiteNoise answers a
static file with a FileResponse that reads the file with a synchronous iterator; Django's
ASGI handler can only stream an asynchronous one, so it read every file whole in a thread
and logged "StreamingHttpResponse must consume synchronous iterators" for each CSS, JS or
image file of every admin page (and for every empty 304 answer). Under ASGI the file is
read here in blocks in a worker thread, as an asynchronous iterator: the same bytes,
streamed, and no warning. Under WSGI (the test client, wsgi.py) nothing changes.

WHITENOISE_ROOT (c4router/public/) serves the few files a browser asks for at the root of
the site, such as /favicon.ico.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import IO, Any

from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest
from whitenoise.middleware import WhiteNoiseMiddleware

# Bigger than FileResponse's 4 KiB: each block is one hop to a thread and back.
BLOCK_SIZE = 64 * 1024


async def _read_blocks(file: IO[bytes], block_size: int = BLOCK_SIZE) -> AsyncIterator[bytes]:
    while chunk := await asyncio.to_thread(file.read, block_size):
        yield chunk


async def _nothing() -> AsyncIterator[bytes]:
    return
    yield b""  # pragma: no cover - makes this an async generator


class StaticFilesMiddleware(WhiteNoiseMiddleware):
    """WhiteNoise, whose file answers stream asynchronously under ASGI."""

    def serve(self, static_file: Any, request: HttpRequest) -> Any:  # type: ignore[override]
        response = super().serve(static_file, request)
        if isinstance(request, ASGIRequest):
            # The file stays registered for closing with the response (FileResponse did it).
            file = response.file_to_stream
            response.streaming_content = _nothing() if file is None else _read_blocks(file)
        return response
