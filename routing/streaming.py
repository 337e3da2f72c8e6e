"""A CSV download streamed in chunks, under WSGI and ASGI alike (the API's and the admin's
exports).

Django serves a StreamingHttpResponse over a synchronous iterator under ASGI by reading it
whole into a list first (and warning "StreamingHttpResponse must consume synchronous
iterators"), and one over an asynchronous iterator under WSGI the same way: either way the
whole export would sit in the worker's memory. This response is both. Under WSGI (gunicorn's
sync workers, the test client) it iterates the chunks directly; under ASGI (uvicorn) it asks
for each next chunk through sync_to_async, in the request's own thread, where the view ran:
the database connection and its server-side cursor live there, the event loop goes on
answering routing queries between chunks, and only one chunk exists at a time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

from asgiref.sync import sync_to_async
from django.http import StreamingHttpResponse

_END = object()


def _next_chunk(iterator: Iterator[bytes]) -> bytes | object:
    return next(iterator, _END)


class StreamingCsvResponse(StreamingHttpResponse):
    """`chunks` (text) as a CSV attachment named `filename`, streamed."""

    def __init__(self, chunks: Iterator[str], filename: str) -> None:
        super().__init__(chunks, content_type="text/csv; charset=utf-8")
        self["Content-Disposition"] = f'attachment; filename="{filename}"'

    async def __aiter__(self) -> AsyncIterator[bytes]:
        # Django's ASGI handler iterates the response with `async for`: one chunk per trip
        # to the request's thread (thread_sensitive), never the whole iterator at once.
        iterator = iter(self.streaming_content)  # type: ignore[arg-type]
        next_chunk = sync_to_async(_next_chunk, thread_sensitive=True)
        while (chunk := await next_chunk(iterator)) is not _END:
            yield chunk  # type: ignore[misc]
