"""Refuse request bodies past MAX_REQUEST_BODY while Daphne receives them, before any more of them is stored.

Daphne has no such limit. Twisted spools the whole body to a temporary file, and only then does Daphne start the
application, putting every chunk of the body in its queue at once, in memory (django/daphne#253): a 200 MB body
grew the web process by 200 MB before Django's DATA_UPLOAD_MAX_MEMORY_SIZE ever looked at it. An ASGI middleware
runs too late for that, so the limit sits in the request object Twisted feeds while reading.

Uploads are the exception: their route (`streamed`) has its own, larger limit, and its body is never stored. The
application starts as soon as the headers are in, and gets the body chunk by chunk as Twisted reads it; while the
application has not taken the chunks queued, the socket is not read (so a slow instance slows the client down).
"""

from __future__ import annotations

import asyncio
import io
import json
import re
from typing import Any
from urllib.parse import unquote

from daphne import http_protocol

# Chunks (up to 64 KiB each) queued for a streamed request's application before reading pauses, and resumes.
QUEUED_HIGH = 32
QUEUED_LOW = 8
# How often a paused streamed request looks whether its application has taken enough chunks (seconds).
RESUME_POLL = 0.005


class BoundedRequest(http_protocol.WebRequest):
    """Daphne's request, answering 413 and hanging up once the announced or received body passes `limit`."""

    limit = 1024 * 1024
    streamed: re.Pattern[str] | None = None
    streamed_limit = 0
    refused = False
    streaming = False
    body_ended = False
    paused = False
    received = 0

    def gotLength(self, length: int | None) -> None:
        self.streaming = self._is_streamed()
        if self.streaming:
            self.limit = self.streamed_limit
        if length is not None and length > self.limit:
            self._refuse()
        super().gotLength(0 if self.refused or self.streaming else length)
        if self.streaming and not self.refused:
            self._start_application()

    def handleContentChunk(self, data: bytes) -> None:
        # A chunked body (or one longer than it announced) is counted as it arrives.
        self.received += len(data)
        if not self.refused and self.received > self.limit:
            self._refuse()
        if self.refused:
            return
        if self.streaming:
            self._pass_on(data)
        else:
            super().handleContentChunk(data)

    def requestReceived(self, command: bytes, path: bytes, version: bytes) -> None:
        if not self.streaming:
            super().requestReceived(command, path, version)
            return
        # The application runs already: it gets the body's end. Twisted resumes reading once the answer is sent.
        self.paused = False
        self.body_ended = True
        if self.application_queue is not None and not self.refused:
            self.application_queue.put_nowait({"type": "http.request", "body": b"", "more_body": False})

    def finish(self) -> Any:
        if self.streaming and not self.body_ended and self.channel is not None:
            # Answered before the body's end (an upload cut at its deadline): what follows of the body must never be
            # read as the next request, so the connection closes after the answer.
            self.channel.persistent = False
        return super().finish()

    def process(self) -> Any:
        # Twisted may finish parsing what it had read before the hang-up; the application must never see it.
        return None if self.refused else super().process()

    def _is_streamed(self) -> bool:
        # Twisted sets the request's method and path only once the body is in; the channel has them already.
        command, uri = getattr(self.channel, "_command", b""), getattr(self.channel, "_path", b"")
        # Matched as the application will route it: Daphne decodes the path (%2F is a slash there).
        path = unquote(uri.partition(b"?")[0].decode("latin-1"))
        return command == b"POST" and self.streamed is not None and bool(self.streamed.fullmatch(path))

    def _start_application(self) -> None:
        """Start the application now, as Twisted would once the body is in, with no body queued yet."""
        self.method, self.uri, self.clientproto = self.channel._command, self.channel._path, self.channel._version
        self.path = self.uri.partition(b"?")[0]
        self.args: dict[bytes, list[bytes]] = {}
        self.content = io.BytesIO()
        # Daphne's process() creates the application synchronously (its Deferred has fired), then queues the body
        # it would have stored: here an empty, final one, taken back before the application can read it.
        super().process()
        if self.application_queue is None or self.finished:
            # Daphne refused the request (a malformed header) and answered it; the body that follows is unwanted.
            self.refused = True
            self.channel.loseConnection()
            return
        self.application_queue.get_nowait()

    def _pass_on(self, data: bytes) -> None:
        queue = self.application_queue
        if queue is None:
            return
        queue.put_nowait({"type": "http.request", "body": data, "more_body": True})
        if not self.paused and queue.qsize() >= QUEUED_HIGH:
            self.paused = True
            self.channel._networkProducer.pauseProducing()
            asyncio.get_running_loop().call_later(RESUME_POLL, self._resume_when_taken)

    def _resume_when_taken(self) -> None:
        # Twisted deletes the channel attribute once the request is answered (Request._cleanup).
        if not self.paused or getattr(self, "channel", None) is None or self.application_queue is None:
            return
        if self.application_queue.qsize() > QUEUED_LOW:
            asyncio.get_running_loop().call_later(RESUME_POLL, self._resume_when_taken)
            return
        self.paused = False
        self.channel._networkProducer.resumeProducing()

    def _refuse(self) -> None:
        self.refused = True
        # Twisted answers "Expect: 100-continue" right after gotLength(); a refused body is not to be sent at all.
        self.requestHeaders.removeHeader(b"expect")
        what = "uploads" if self.streaming else "request bodies"
        message = f"{what} are limited to {self.limit} bytes"
        body = json.dumps({"error": "body_too_large", "message": message}).encode()
        head = (
            "HTTP/1.1 413 Content Too Large\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        self.channel.transport.write(head.encode() + body)
        self.channel.loseConnection()


def install(limit: int, streamed: re.Pattern[str] | None = None, streamed_limit: int = 0) -> None:
    """Make Daphne build every HTTP request as a BoundedRequest of at most `limit` body bytes.

    A POST whose path matches `streamed` may send up to `streamed_limit` bytes, passed on as they arrive.
    """
    BoundedRequest.limit = limit
    BoundedRequest.streamed = streamed
    BoundedRequest.streamed_limit = streamed_limit
    http_protocol.WebRequest = BoundedRequest
