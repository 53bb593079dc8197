"""POST /sessions/{id}/instances/{name}/uploads: files streamed into an instance, never held whole in memory.

Django's ASGI handler stores a whole body before a view runs, so this route is a small ASGI application of its
own (playground/asgi.py sends it here; playground/bodylimit.py passes the body on as it arrives). Three forms:
- multipart/form-data, one or more files: each lands in the folder `path`;
- `url=` an http(s) URL on FETCH_ALLOWED_HOSTS: the server fetches it into `path`, named as the URL's last part;
- any other body (PWD's SDK): the body is the file, named as `url`'s last part (or a Content-Disposition
  filename) in the folder `path`, else `path` itself.
A relative `path` starts at the terminal shell's folder. Each file is written under a temporary name; an upload's
files are moved into place together once all are whole, so a failed or cut upload leaves no file behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import posixpath
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from channels.db import database_sync_to_async
from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.http.request import split_domain_port, validate_host

from engine.daemon import Daemon, run_blocking
from sessions import fetch, instancefiles, multipart
from sessions.activity import record_activity
from sessions.api import error, get_instance, get_live_session, json_api
from sessions.lifecycle import BadInput, SandboxError
from sessions.slots import Slots

log = logging.getLogger(__name__)

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

ROUTE = re.compile(r"/sessions/(?P<session_id>[^/]+)/instances/(?P<name>[^/]+)/uploads")
# Seconds the rest of a refused or timed-out upload's body is still read before the answer (then the connection
# closes: playground/bodylimit.py).
SKIP_GRACE = 5.0
# Files one multipart upload may hold: each costs the instance about three commands (0.2 s), so that many keep an
# upload, and its discarding when it fails, within seconds.
MAX_FILES = 20


class TooManyUploads(SandboxError):
    status = 429
    code = "too_many_uploads"


class UploadTimedOut(SandboxError):
    status = 408
    code = "upload_timeout"


class ClientGone(Exception):
    """The client hung up (or sent more than UPLOAD_MAX_BYTES and was cut off)."""


_running = Slots("uploads", TooManyUploads)


class Body:
    """The request's body as the server passes it on, chunk by chunk."""

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self.ended = False

    async def chunks(self) -> AsyncIterator[bytes]:
        while not self.ended:
            try:
                async with asyncio.timeout(settings.UPLOAD_STALL_TIMEOUT):
                    message = await self._receive()
            except TimeoutError:
                raise UploadTimedOut(f"the client sent nothing for {settings.UPLOAD_STALL_TIMEOUT:g} s") from None
            if message["type"] == "http.disconnect":
                raise ClientGone()
            self.ended = not message.get("more_body", False)
            if message.get("body"):
                yield message["body"]

    async def skip(self) -> None:
        """Read the rest of the body."""
        async for _ in self.chunks():
            pass


async def application(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    """Answer one upload: 200 with the files written, or a JSON error."""
    body = Body(receive)
    status = 200
    answer: dict[str, Any] = {}
    try:
        match = ROUTE.fullmatch(scope["path"])
        if match is None:
            raise Http404("no such upload route")
        _check_host(scope)
        with _running.hold(match["session_id"], settings.UPLOADS_PER_SESSION, settings.UPLOADS_AT_ONCE):
            try:
                async with asyncio.timeout(settings.UPLOAD_TIMEOUT):
                    answer = {"files": await _upload(scope, match, body)}
            except TimeoutError:
                raise UploadTimedOut(f"the upload did not finish within {settings.UPLOAD_TIMEOUT:g} s") from None
    except SandboxError as e:
        status, answer = e.status, {"error": e.code, "message": str(e)}
    except Http404 as e:
        status, answer = 404, {"error": "not_found", "message": str(e)}
    except ClientGone:
        return
    # What is left of a refused upload's body is read for a moment, so a client that waits for its end reads the
    # answer instead of a broken pipe; then it is answered all the same, and its connection closed.
    try:
        async with asyncio.timeout(SKIP_GRACE):
            await body.skip()
    except (ClientGone, UploadTimedOut, TimeoutError):
        pass
    await _answer(scope, send, status, answer)


async def _upload(scope: dict[str, Any], match: re.Match[str], body: Body) -> list[dict[str, Any]]:
    daemon, name = await database_sync_to_async(_instance_name)(match["session_id"], match["name"])
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    path, url = query.get("path", [""])[0], query.get("url", [""])[0]
    place = await run_blocking(instancefiles.resolve, daemon, name, path or ".")
    if url.lower().startswith(("http://", "https://")):
        return [await _fetched(daemon, name, place, url)]
    headers = dict(scope.get("headers", []))
    content_type = headers.get(b"content-type", b"").decode("latin-1")
    boundary = multipart.boundary(content_type)
    if boundary is not None:
        return await _multipart(daemon, name, place, boundary, body)
    named = url or multipart.filename(headers.get(b"content-disposition", b""))
    if named:
        dest = posixpath.join(place, instancefiles.checked_name(posixpath.basename(named)))
    elif path and not path.endswith("/"):
        dest = place
    else:
        raise BadInput(
            "an upload that is not multipart names its file: path=<file>, or url=<name> (or a Content-Disposition"
            " filename) and path=<folder>"
        )
    return [await _write(daemon, name, dest, body.chunks())]


def _check_host(scope: dict[str, Any]) -> None:
    """Refuse a Host that is not in ALLOWED_HOSTS, as Django does for every other route."""
    host = dict(scope.get("headers", [])).get(b"host", b"").decode("latin-1")
    domain, _port = split_domain_port(host)
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        raise BadInput(f"the host {host[:100]!r} is not served here (ALLOWED_HOSTS)")


def _instance_name(session_id: str, name: str) -> tuple[Daemon, str]:
    session = get_live_session(session_id)
    record_activity(session.id)
    return session.daemon, get_instance(session, name).name


async def _multipart(daemon: Daemon, name: str, folder: str, boundary: bytes, body: Body) -> list[dict[str, Any]]:
    """Write each file under a temporary name, then put them all in place: a failed upload puts none there."""
    async with contextlib.AsyncExitStack() as files:
        writers: list[instancefiles.FileWriter] = []
        writer: instancefiles.FileWriter | None = None
        try:
            parser = multipart.Parser(boundary)
            async for chunk in body.chunks():
                for event in parser.feed(chunk):
                    if isinstance(event, multipart.Data):
                        if writer is not None:
                            await writer.write(event.data)
                        continue
                    if writer is not None:
                        await writer.close()
                    writer = None
                    if event.filename:
                        if len(writers) >= MAX_FILES:
                            raise BadInput(f"an upload holds at most {MAX_FILES} files")
                        dest = posixpath.join(folder, instancefiles.checked_name(event.filename))
                        writer = await files.enter_async_context(instancefiles.FileWriter(daemon, name, dest))
                        writers.append(writer)
        except multipart.MultipartError as e:
            raise BadInput(f"the upload is not valid multipart/form-data: {e}") from None
        if not parser.done:
            raise BadInput("the upload ended before its closing boundary")
        if writer is not None:
            await writer.close()
        if not writers:
            raise BadInput("the upload holds no file (multipart parts with a filename)")
        for writer in writers:
            await writer.place()
    return [{"path": writer.dest, "bytes": writer.written} for writer in writers]


async def _write(daemon: Daemon, name: str, dest: str, chunks: AsyncIterator[bytes]) -> dict[str, Any]:
    async with instancefiles.FileWriter(daemon, name, dest) as writer:
        async for chunk in chunks:
            await writer.write(chunk)
        await writer.finish()
    return {"path": writer.dest, "bytes": writer.written}


async def _fetched(daemon: Daemon, name: str, folder: str, url: str) -> dict[str, Any]:
    """Fetch url (from an allowed host only) into the folder, chunk by chunk."""
    filename = instancefiles.checked_name(unquote(posixpath.basename(urlsplit(url).path)))
    opened = fetch.fetch(url, limit=min(settings.FETCH_MAX_BYTES, settings.UPLOAD_MAX_BYTES))
    chunks = await asyncio.to_thread(opened.__enter__)

    async def fetched() -> AsyncIterator[bytes]:
        while chunk := await asyncio.to_thread(next, chunks, b""):
            yield chunk

    try:
        return await _write(daemon, name, posixpath.join(folder, filename), fetched())
    finally:
        await asyncio.to_thread(opened.__exit__, None, None, None)


async def _answer(scope: dict[str, Any], send: Send, status: int, answer: dict[str, Any]) -> None:
    body = json.dumps(answer).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    # Django's CORS middleware does not see this route: the SDK's pages on CORS_ALLOWED_ORIGINS must read it too.
    origin = dict(scope.get("headers", [])).get(b"origin", b"").decode("latin-1")
    if origin and origin.rstrip("/") in [o.rstrip("/") for o in settings.CORS_ALLOWED_ORIGINS]:
        headers += [
            (b"access-control-allow-origin", origin.encode("latin-1")),
            (b"access-control-allow-credentials", b"true"),
            (b"vary", b"origin"),
        ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@json_api
def not_streamed(request: HttpRequest, session_id: str, name: str) -> HttpResponse:
    """The route in Django's URLs (for reverse() and the API document): it answers what the streaming app does not."""
    if request.method == "POST":
        # Only a server without playground.asgi in front (a test client, runserver) gets here.
        return error(503, "uploads_not_served", "uploads are streamed by playground.asgi, which is not serving")
    return error(405, "method_not_allowed", "uploads are POSTed")
