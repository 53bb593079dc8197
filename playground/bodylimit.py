"""Refuse request bodies past MAX_REQUEST_BODY while Daphne receives them, before any more of them is stored.

Daphne has no such limit. Twisted spools the whole body to a temporary file, and only then does Daphne start the
application, putting every chunk of the body in its queue at once, in memory (django/daphne#253): a 200 MB body
grew the web process by 200 MB before Django's DATA_UPLOAD_MAX_MEMORY_SIZE ever looked at it. An ASGI middleware
runs too late for that, so the limit sits in the request object Twisted feeds while reading.
"""

from __future__ import annotations

import json
from typing import Any

from daphne import http_protocol


class BoundedRequest(http_protocol.WebRequest):
    """Daphne's request, answering 413 and hanging up once the announced or received body passes `limit`."""

    limit = 1024 * 1024
    refused = False
    received = 0

    def gotLength(self, length: int | None) -> None:
        if length is not None and length > self.limit:
            self._refuse()
        super().gotLength(0 if self.refused else length)

    def handleContentChunk(self, data: bytes) -> None:
        # A chunked body (or one longer than it announced) is counted as it arrives.
        self.received += len(data)
        if not self.refused and self.received > self.limit:
            self._refuse()
        if not self.refused:
            super().handleContentChunk(data)

    def process(self) -> Any:
        # Twisted may finish parsing what it had read before the hang-up; the application must never see it.
        return None if self.refused else super().process()

    def _refuse(self) -> None:
        self.refused = True
        # Twisted answers "Expect: 100-continue" right after gotLength(); a refused body is not to be sent at all.
        self.requestHeaders.removeHeader(b"expect")
        message = f"request bodies are limited to {self.limit} bytes"
        body = json.dumps({"error": "body_too_large", "message": message}).encode()
        head = (
            "HTTP/1.1 413 Content Too Large\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        self.channel.transport.write(head.encode() + body)
        self.channel.loseConnection()


def install(limit: int) -> None:
    """Make Daphne build every HTTP request as a BoundedRequest of at most `limit` body bytes."""
    BoundedRequest.limit = limit
    http_protocol.WebRequest = BoundedRequest
