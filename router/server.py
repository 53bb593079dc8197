"""The direct router: one TCP listener that routes TLS by SNI (passed through unterminated) and HTTP by Host."""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
from collections.abc import Awaitable, Callable

from router import hostnames, httphead, sni
from router.routes import Resolver, Target

log = logging.getLogger(__name__)

HEAD_LIMIT = 16 * 1024  # request heads and ClientHellos are far smaller; more is a mistake or an attack
CHUNK = 64 * 1024
FIRST_BYTES_TIMEOUT = 10.0  # a client that says nothing for this long is dropped
CONNECT_TIMEOUT = 5.0

Lookup = Callable[[hostnames.Name, bool], Awaitable[Target | None]]


class Refused(Exception):
    """The connection cannot be routed; carries the HTTP status and a message for the learner."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class Router:
    """Route each accepted connection to the instance its first bytes name, then splice both ways."""

    def __init__(self, domain: str, lookup: Lookup | None = None) -> None:
        self.domain = domain
        self.lookup: Lookup = lookup or Resolver()

    async def serve(self, host: str, port: int) -> asyncio.Server:
        return await asyncio.start_server(self.handle, host, port, limit=HEAD_LIMIT)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            first = await asyncio.wait_for(reader.read(1), FIRST_BYTES_TIMEOUT)
            if first and first[0] == sni.HANDSHAKE:
                await self._tls(first, reader, writer)
            elif httphead.looks_like_http(first):
                await self._http(first, reader, writer)
        except (OSError, TimeoutError, asyncio.IncompleteReadError):
            pass  # the client went away or said nothing in time
        except asyncio.CancelledError:
            pass  # the router is shutting down; nothing awaits this handler
        except Exception:
            log.exception("could not route a connection")
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def _tls(self, first: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Pass TLS through to the instance named by SNI; close at once when it names none of ours."""
        hello = first + await asyncio.wait_for(reader.readexactly(sni.RECORD_HEADER - 1), FIRST_BYTES_TIMEOUT)
        try:
            length = sni.record_length(hello)
            if length > HEAD_LIMIT:
                return
            hello += await asyncio.wait_for(reader.readexactly(length), FIRST_BYTES_TIMEOUT)
            server_name = sni.server_name(hello)
        except sni.Malformed:
            return
        name = hostnames.parse(server_name or "", self.domain)
        target = await self.lookup(name, True) if name else None
        if target is None:
            log.info("TLS for %r refused: no such running instance", server_name)
            return
        upstream = await self._connect(target)
        if upstream is not None:
            await _splice(hello, reader, writer, *upstream)

    async def _http(self, first: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Forward plain HTTP to the instance port named by Host; answer an error page when it cannot."""
        try:
            head = first + await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), FIRST_BYTES_TIMEOUT)
            target = await self._http_target(head)
            upstream = await self._connect(target)
            if upstream is None:
                port = target.port
                raise Refused(502, "Bad Gateway", f"Nothing answers on port {port} of {target.hostname}.")
        except asyncio.LimitOverrunError:
            await _error_page(writer, 431, "Request Header Fields Too Large", "The request head is too large.")
        except Refused as e:
            await _error_page(writer, e.status, e.reason, str(e))
        else:
            await _splice(head, reader, writer, *upstream)

    async def _http_target(self, head: bytes) -> Target:
        host = httphead.host(head)
        if host is None:
            raise Refused(400, "Bad Request", "The request has no Host header.")
        name = hostnames.parse(host, self.domain)
        if name is None:
            raise Refused(
                404, "Not Found", f"{host} is not an instance address; expect ip<a-b-c-d>-<session>-<port>.direct."
            )
        target = await self.lookup(name, False)
        if target is None:
            raise Refused(404, "Not Found", f"No running instance of a live session is at {host}.")
        return target

    async def _connect(self, target: Target) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        try:
            return await asyncio.wait_for(asyncio.open_connection(target.ip, target.port), CONNECT_TIMEOUT)
        except (OSError, TimeoutError):
            return None


async def _splice(
    head: bytes,
    client_reader: asyncio.StreamReader,
    client_writer: asyncio.StreamWriter,
    upstream_reader: asyncio.StreamReader,
    upstream_writer: asyncio.StreamWriter,
) -> None:
    """Send the bytes already read upstream, then copy both ways until both sides are done."""
    upstream_writer.write(head)

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await writer.drain()
            while data := await reader.read(CHUNK):
                writer.write(data)
                # Backpressure: stop reading while the other side cannot keep up.
                await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()
        except OSError:
            # One side broke: tear both down, so the other direction does not wait forever.
            client_writer.close()
            upstream_writer.close()

    try:
        await asyncio.gather(pipe(client_reader, upstream_writer), pipe(upstream_reader, client_writer))
    finally:
        upstream_writer.close()


async def _error_page(writer: asyncio.StreamWriter, status: int, reason: str, message: str) -> None:
    body = (
        f"<!doctype html><title>{status} {reason}</title><h1>{status} {reason}</h1><p>{html.escape(message)}</p>\n"
    ).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/html; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    writer.write(head + body)
    await writer.drain()
