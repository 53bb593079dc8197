"""The direct router: one TCP listener that routes TLS by SNI (passed through unterminated) and HTTP by Host.

Bytes are forwarded in protocol callbacks, without a task switch per chunk; a full peer pauses its source.
"""

from __future__ import annotations

import asyncio
import html
import logging
import socket
from typing import cast

import metrics
from engine import EngineError, relay
from router import hostnames, httphead, sni
from router.routes import Query, Resolver, Target

log = logging.getLogger(__name__)

HEAD_LIMIT = 16 * 1024  # request heads and ClientHellos are far smaller; more is a mistake or an attack
FIRST_BYTES_TIMEOUT = 10.0  # a client that has not said where it goes by then is dropped
CONNECT_TIMEOUT = 5.0


class Refused(Exception):
    """The connection cannot be routed; carries the HTTP status and a message for the learner."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class Router:
    """Accept connections, route each to the instance its first bytes name, and forward both ways."""

    def __init__(self, domain: str, lookup: Query | None = None) -> None:
        self.domain = domain
        self.lookup: Query = lookup or Resolver()
        self.connections: set[_Client] = set()

    async def serve(self, sock: socket.socket) -> asyncio.Server:
        """Accept connections on a listening socket (see workers.listening_sockets)."""
        loop = asyncio.get_running_loop()
        return await loop.create_server(lambda: _Client(self), sock=sock)

    async def shut_down(self, server: asyncio.Server) -> None:
        """Stop listening and close every connection still open."""
        server.close()
        for connection in list(self.connections):
            connection.close()
        await server.wait_closed()

    async def target(self, head: bytes, tls: bool) -> Target:
        """Return where a complete head leads, or raise Refused."""
        if tls:
            try:
                host = sni.server_name(head)
            except sni.Malformed as e:
                raise Refused(400, "Bad Request", f"malformed ClientHello: {e}") from e
        else:
            host = httphead.host(head)
        if not host:
            raise Refused(400, "Bad Request", "The request names no host (Host header or SNI).")
        name = hostnames.parse(host, self.domain)
        if name is None:
            raise Refused(
                404, "Not Found", f"{host} is not an instance address; expect ip<a-b-c-d>-<session>-<port>.direct."
            )
        target = await self.lookup(name, tls)
        if target is None:
            raise Refused(404, "Not Found", f"No running instance of a live session is at {host}.")
        return target


class _Pipe(asyncio.Protocol):
    """One end of a spliced connection: what its transport receives goes to the peer's transport."""

    transport: asyncio.Transport
    peer: _Pipe | None = None
    got_eof = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's

    def data_received(self, data: bytes) -> None:
        if self.peer is not None:
            self.peer.transport.write(data)

    def eof_received(self) -> bool:
        """Pass a half-close on; close both ends once neither will send more."""
        self.got_eof = True
        if self.peer is not None:
            if self.peer.got_eof:
                self.close()
                return False
            if self.peer.transport.can_write_eof() and not self.peer.transport.is_closing():
                self.peer.transport.write_eof()
        return True

    # Backpressure: while this end's outgoing buffer is over its high-water mark, stop reading the peer.
    def pause_writing(self) -> None:
        if self.peer is not None:
            self.peer.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None:
            self.peer.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.peer is not None:
            self.peer.transport.close()  # after flushing what it still has to send

    def close(self) -> None:
        self.transport.close()
        if self.peer is not None:
            self.peer.transport.close()


class _Client(_Pipe):
    """The accepted end: gathers the head, routes it, connects upstream, then forwards like any pipe."""

    def __init__(self, router: Router) -> None:
        self.router = router
        self.head = b""
        self.routing: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.router.connections.add(self)
        metrics.ROUTER_CONNECTIONS.inc()
        self.timer = asyncio.get_running_loop().call_later(FIRST_BYTES_TIMEOUT, self._too_slow)

    def data_received(self, data: bytes) -> None:
        if self.peer is not None:
            super().data_received(data)
            return
        self.head += data
        tls = self.head[:1] == bytes([sni.HANDSHAKE])
        try:
            if not tls and not httphead.looks_like_http(self.head):
                self.transport.close()
            elif _complete(self.head, tls) and self.routing is None:
                self.transport.pause_reading()  # anything more waits in the kernel until upstream is ready
                self.timer.cancel()
                self.routing = asyncio.ensure_future(self._route(tls))
        except Refused as e:
            self._refuse(e, tls)

    async def _route(self, tls: bool) -> None:
        try:
            target = await self.router.target(self.head, tls)
            upstream = await _connect(target, self)
        except Refused as e:
            self._refuse(e, tls)
            return
        except Exception:
            log.exception("could not route a connection")
            self.transport.close()
            return
        if self.transport.is_closing():
            upstream.transport.close()
            return
        self.peer = upstream
        upstream.transport.write(self.head)
        if self.got_eof:
            upstream.transport.write_eof()
        self.transport.resume_reading()

    def _refuse(self, refusal: Refused, tls: bool) -> None:
        if tls:
            log.info("TLS refused: %s", refusal)  # a TLS client cannot read an error page: close at once
        else:
            self.transport.write(_error_page(refusal))
        self.transport.close()

    def _too_slow(self) -> None:
        if self.peer is None and self.routing is None:
            self.transport.close()

    def eof_received(self) -> bool:
        if self.peer is None and self.routing is None:
            self.transport.close()  # hung up before saying where to go
            return False
        return super().eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self.timer.cancel()
        self.router.connections.discard(self)
        if self.routing is not None and not self.routing.done():
            self.routing.cancel()
        super().connection_lost(exc)


def _complete(head: bytes, tls: bool) -> bool:
    """Tell whether the head holds a whole ClientHello record (TLS) or request head (HTTP); raise Refused if never."""
    if tls:
        if len(head) < sni.RECORD_HEADER:
            return False
        try:
            length = sni.record_length(head[: sni.RECORD_HEADER])
        except sni.Malformed as e:
            raise Refused(400, "Bad Request", str(e)) from e
        if length > HEAD_LIMIT:
            raise Refused(400, "Bad Request", "ClientHello too large")
        return len(head) >= sni.RECORD_HEADER + length
    if b"\r\n\r\n" in head:
        return True
    if len(head) >= HEAD_LIMIT:
        raise Refused(431, "Request Header Fields Too Large", "The request head is too large.")
    return False


async def _connect(target: Target, client: _Client) -> _Pipe:
    upstream = _Pipe()
    upstream.peer = client
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT):
            await relay.connect(lambda: upstream, target.ip, target.port, target.relay)
    except relay.Busy as e:
        raise Refused(503, "Service Unavailable", f"Too many connections to {target.hostname} at once.") from e
    except (OSError, TimeoutError, EngineError) as e:
        raise Refused(502, "Bad Gateway", f"Nothing answers on port {target.port} of {target.hostname}.") from e
    return upstream


def _error_page(refusal: Refused) -> bytes:
    title = f"{refusal.status} {refusal.reason}"
    body = f"<!doctype html><title>{title}</title><h1>{title}</h1><p>{html.escape(str(refusal))}</p>\n".encode()
    head = (
        f"HTTP/1.1 {title}\r\nContent-Type: text/html; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body
