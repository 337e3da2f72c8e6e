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

PlotlyFinder serves plotly.min.js from the `plotly` package (the Traffic pages' charts).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import IO, Any

from django.contrib.staticfiles.finders import BaseFinder
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


# --- plotly.js, from the `plotly` package (PyPI) ----------------------------------------------

PLOTLY_PREFIX = "plotly"
PLOTLY_FILE = "plotly.min.js"


def _plotly_storage() -> Any:
    """The `plotly` package's package_data folder, where its plotly.min.js is."""
    from pathlib import Path

    import plotly
    from django.core.files.storage import FileSystemStorage

    storage = FileSystemStorage(location=Path(plotly.__file__).parent / "package_data")
    storage.prefix = PLOTLY_PREFIX  # type: ignore[attr-defined]
    return storage


class PlotlyFinder(BaseFinder):
    """Static file finder for one file: plotly.min.js, shipped by the pinned `plotly`
    package (requirements.txt), served as static/plotly/plotly.min.js. The Traffic pages
    draw their charts with it: installed by pip with the rest, nothing copied into the
    repository, no second package manager for the quick start (README, Call records)."""

    def check(self, **kwargs: Any) -> list[Any]:
        return []

    def find(self, path: str, find_all: bool = False, **kwargs: Any) -> str | list[str]:
        if path != f"{PLOTLY_PREFIX}/{PLOTLY_FILE}":
            return [] if find_all or kwargs.get("all") else ""
        found = _plotly_storage().path(PLOTLY_FILE)
        return [found] if find_all or kwargs.get("all") else found

    def list(self, ignore_patterns: Any) -> Iterator[tuple[str, Any]]:
        yield PLOTLY_FILE, _plotly_storage()
