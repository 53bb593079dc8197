"""An instance's own Docker engine, called over its TLS API with that instance's own client certificate.

Whatever answers there is the learner's to make up: they are root in the instance, hold its server key, and may
put any TLS server on the engine's port. So TLS runs here over a raw connection whose every byte is counted (a
server cannot make the web process decrypt, renegotiate or rekey without limit), every call has a deadline and a
size cap, an answer is only ever read as a few numbers, and the event stream is a doorbell: once its headers are
read, its bytes are never even decrypted; that any arrived just means "look again".
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import ssl
import tempfile
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from engine import EngineError, relay
from engine.daemon import Daemon
from engine.tls import ENGINE_TLS_PORT

# Far more than a page of containers and services; anything longer is not an engine telling the truth.
ANSWER_LIMIT = 256 * 1024
HEAD_LIMIT = 16 * 1024
# Raw bytes one connection may bring in: a handshake (certificates), headers and an answer, with room to spare.
# The event stream is never decrypted past its headers (see _Connection.rung), so what it brings is not counted.
RAW_LIMIT = 2 * ANSWER_LIMIT
# The server's part of a handshake: a few messages and its certificates (an engine's chain is a few KiB).
HANDSHAKE_LIMIT = 24 * 1024
# Past the handshake, records without content (session tickets, key updates, empty records) cost work for
# nothing: a connection may be given this many raw bytes more than the content it brings, plus a sixteenth of
# that content for the records' own bytes (dockerd's small records take under 2 %).
OVERHEAD_LIMIT = 16 * 1024
# Reads one connection may take: every read wakes the loop, so a server sending a byte at a time is cut soon (an
# answer of ANSWER_LIMIT arrives in a few hundred reads at most).
READS_LIMIT = 1024
# A TLS record: a 5-byte header, at most 16 KiB of content and 256 bytes of expansion.
RECORD_LIMIT = 5 + 2**14 + 256
# What changes the published ports: containers starting and ending, services created, updated or removed.
_EVENTS = json.dumps({"type": ["container", "service"], "event": ["start", "die", "create", "update", "remove"]})
# Badges a page can show; a learner publishing a range of thousands gets the first ones.
PORTS_SHOWN = 100


class Unanswered(Exception):
    """The instance's engine did not answer as an engine does: refused, too slow, too long, or not HTTP."""


class InstanceEngine:
    """An instance's engine: where it listens, how its server is recognised, and how the platform signs in."""

    def __init__(
        self,
        ip: str,
        server_ca: str,
        client_cert: str,
        client_key: str,
        server_cert: str = "",
        port: int = ENGINE_TLS_PORT,
        relay_from: tuple[Daemon, str] | None = None,
    ) -> None:
        """Build the TLS context (it reads files: call this off the event loop).

        server_ca is the CA the server's certificate must chain to. An issued CA is the instance's own, so an
        address that now leads to another instance is refused; a docker-machine CA may sign all of a client's
        machines, so their certificate (server_cert) is pinned too. The client certificate opens this instance's
        engine and no other. relay_from, an instance's engine and name, has the connection made from inside that
        instance (engine/relay), for an instance whose address this host cannot reach.
        """
        self.ip, self.port, self.relay_from = ip, port, relay_from
        self.tls = ssl.create_default_context(cadata=server_ca)
        # The server certificate names the router's wildcard, not this address.
        self.tls.check_hostname = False
        # TLS 1.3 on P-256 only: no renegotiation, no Diffie-Hellman group of the server's choosing.
        self.tls.minimum_version = ssl.TLSVersion.TLSv1_3
        self.tls.set_ecdh_curve("prime256v1")
        # Python 3.13 makes the default strict: certificates without key identifiers (docker-machine's) would fail.
        self.tls.verify_flags &= ~getattr(ssl, "VERIFY_X509_STRICT", 0)
        _load_client(self.tls, client_cert, client_key)
        self.pinned = _der(server_cert) if server_cert else None


def _load_client(context: ssl.SSLContext, cert: str, key: str) -> None:
    # The ssl module loads a certificate chain from files only: one readable by us alone, gone at once.
    memory = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    with tempfile.NamedTemporaryFile("w", prefix="engine-client-", dir=memory) as f:
        f.write(key + "\n" + cert)
        f.flush()
        context.load_cert_chain(f.name)


def _der(pem: str) -> bytes:
    return x509.load_pem_x509_certificate(pem.encode()).public_bytes(serialization.Encoding.DER)


class _Connection(asyncio.Protocol):
    """TLS over a raw connection, done here, so that what the server sends is counted before any of it is decrypted.

    What arrives is given to TLS one record at a time, one record per turn of the event loop, so a flood costs
    everyone else at most one record's work at a time; and a connection whose records stop bringing content
    (session tickets, key updates, empty records: work for nothing) is cut soon.
    """

    def __init__(self, engine: InstanceEngine) -> None:
        self.ip = engine.ip
        self._incoming, self._outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = engine.tls.wrap_bio(self._incoming, self._outgoing)
        self.transport: asyncio.Transport | None = None
        self.received = 0  # raw bytes arrived
        self._reads = 0
        self.handshaken = False
        self._given = 0  # raw bytes given to TLS since the handshake...
        self._decrypted = 0  # ...and the content TLS made of them
        self.bell = False  # past an event stream's headers: what arrives only rings
        self._rang = False
        self._eof = False
        self.ended = False
        self.lost: Exception | None = None
        self._cut: str | None = None
        self._arrived = asyncio.Event()
        self._raw = bytearray()  # arrived, not yet given to TLS
        self._plain = bytearray()  # decrypted, not yet read

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.received += len(data)
        self._reads += 1
        if self.bell:
            self._rang = True
        elif self.received > RAW_LIMIT:
            self.cut(f"more than {RAW_LIMIT} bytes on one connection")
            return
        elif self._reads > READS_LIMIT:
            self.cut(f"more than {READS_LIMIT} reads on one connection")
            return
        else:
            self._raw += data
            if len(self._raw) > 2 * RECORD_LIMIT and self.transport is not None:
                # Until TLS has caught up, what the server sends waits in the kernel.
                self.transport.pause_reading()
        self._arrived.set()

    def eof_received(self) -> bool:
        self._eof = True
        self._arrived.set()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.ended = True
        self.lost = exc
        self._arrived.set()

    def close(self) -> None:
        self.ended = True
        self._arrived.set()
        if self.transport is not None:
            self.transport.close()

    def cut(self, why: str) -> None:
        """Close the connection; what it is waited for raises Unanswered with why (the first reason given)."""
        if self._cut is None:
            self._cut = why
        self.close()

    def failure(self, what: str) -> Unanswered:
        """Return the error to raise: what went wrong, unless the connection was cut or broke."""
        if self._cut is None and self.lost is not None:
            what = str(self.lost) or type(self.lost).__name__
        return Unanswered(f"{self.ip}: {self._cut or what}")

    def _flush(self) -> None:
        pending = self._outgoing.read()
        if pending and self.transport is not None and not self.transport.is_closing():
            self.transport.write(pending)

    async def _give(self) -> None:
        """Give TLS the next record that arrives (or the end); raise Unanswered when neither will come."""
        while (size := self._record_size()) is None:
            if self._eof and not self._incoming.eof:
                # What is left can never be a whole record: TLS makes of it the error it is.
                self._incoming.write(bytes(self._raw))
                self._raw.clear()
                self._incoming.write_eof()
                return
            if self.ended or self._eof:
                raise self.failure("the connection ended")
            self._arrived.clear()
            await self._arrived.wait()
        # One record per turn of the loop: whatever the server sends, nobody else waits for more than that.
        await asyncio.sleep(0)
        if self.handshaken:
            # TLS asks for more only once it has made content of all it was given.
            if self._given - self._decrypted > OVERHEAD_LIMIT + self._decrypted // 16:
                self.cut(f"more than {OVERHEAD_LIMIT} bytes of TLS records beyond their content")
            self._given += size
        elif self.received - len(self._raw) + size > HANDSHAKE_LIMIT:
            self.cut(f"a TLS handshake longer than {HANDSHAKE_LIMIT} bytes")
        if self._cut is not None:
            raise self.failure("")
        self._incoming.write(bytes(self._raw[:size]))
        del self._raw[:size]
        transport = self.transport
        if len(self._raw) <= RECORD_LIMIT and transport and not transport.is_reading() and not transport.is_closing():
            transport.resume_reading()

    def _record_size(self) -> int | None:
        """Return the size of the first record that has arrived whole, or None."""
        if len(self._raw) < 5:
            return None
        size = 5 + int.from_bytes(self._raw[3:5])
        if size > RECORD_LIMIT:
            self.cut("an answer that is not TLS")
            raise self.failure("")
        return size if len(self._raw) >= size else None

    async def handshake(self, pinned: bytes | None) -> None:
        """Complete TLS; raise Unanswered unless the server's certificate is the instance's (pinned, when given)."""
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self._flush()
                await self._give()
            except ssl.SSLError as e:
                raise self.failure(f"TLS: {e.reason or e}") from e
        self.handshaken = True
        self._flush()
        if pinned is not None and self.tls.getpeercert(binary_form=True) != pinned:
            raise self.failure("not the instance's own server certificate")

    def send(self, data: bytes) -> None:
        try:
            self.tls.write(data)
        except ssl.SSLError as e:
            raise self.failure(f"TLS: {e.reason or e}") from e
        self._flush()

    async def read(self, size: int) -> bytes:
        """Return up to size decrypted bytes, at least one; b"" at the end of the answer."""
        if self._plain:
            data = bytes(self._plain[:size])
            del self._plain[:size]
            return data
        return await self._decrypt(size)

    async def _decrypt(self, size: int) -> bytes:
        while True:
            try:
                data = self.tls.read(size)
            except ssl.SSLWantReadError:
                await self._give()
                continue
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                # Closed with or without TLS's own goodbye: HTTP/1.0's end of the answer all the same.
                return b""
            except ssl.SSLError as e:
                raise self.failure(f"TLS: {e.reason or e}") from e
            self._decrypted += len(data)
            return data

    async def readline(self, limit: int) -> bytes:
        """Return one line with its end, or what came before the end of the answer."""
        scanned = 0
        while (end := self._plain.find(b"\n", scanned) + 1) == 0:
            scanned = len(self._plain)
            if scanned > limit:
                raise self.failure(f"answer headers longer than {limit} bytes")
            more = await self._decrypt(limit + 1)
            if not more:
                end = scanned
                break
            self._plain += more
        if end > limit:
            raise self.failure(f"answer headers longer than {limit} bytes")
        line = bytes(self._plain[:end])
        del self._plain[:end]
        return line

    async def rung(self) -> None:
        """Return once any raw byte has arrived, without decrypting it; raise Unanswered at the end."""
        if self._eof or self.ended:
            raise self.failure("the event stream ended")
        if self._rang or self._plain or self._raw or self._incoming.pending or self.tls.pending():
            # What came with the headers, or since the last ring, is taken as one ring.
            self._rang = False
            self._plain.clear()
            self._raw.clear()
            self._incoming.read()
            return
        assert self.transport is not None
        self.transport.resume_reading()
        try:
            while not (self._rang or self._eof or self.ended):
                self._arrived.clear()
                await self._arrived.wait()
        finally:
            if not self.transport.is_closing():
                # Until the next look, what the server sends waits in the kernel: it costs us nothing.
                self.transport.pause_reading()
        if not self._rang:
            raise self.failure("the event stream ended")
        self._rang = False


@contextlib.asynccontextmanager
async def _deadline(engine: InstanceEngine, timeout: float) -> AsyncIterator[None]:
    """Bound what the block waits for the engine; raise Unanswered when that runs out."""
    try:
        async with asyncio.timeout(timeout):
            yield
    except TimeoutError as e:
        raise Unanswered(f"{engine.ip}: no answer within {timeout:g}s") from e


async def _request(engine: InstanceEngine, path: str) -> _Connection:
    """Send a GET and return the connection positioned at the body of a 200 answer (callers bound the time)."""
    try:
        _, connection = await relay.connect(lambda: _Connection(engine), engine.ip, engine.port, engine.relay_from)
    except (OSError, EngineError) as e:
        raise Unanswered(f"{engine.ip}: {str(e) or type(e).__name__}") from e
    try:
        await connection.handshake(engine.pinned)
        # HTTP/1.0: the engine answers without chunking and closes at the end, so the body is all that follows.
        connection.send(f"GET {path} HTTP/1.0\r\nHost: docker\r\n\r\n".encode())
        status = await connection.readline(HEAD_LIMIT)
        head = len(status)
        while (line := await connection.readline(HEAD_LIMIT)) not in (b"\r\n", b""):
            head += len(line)
            if head > HEAD_LIMIT:
                raise connection.failure(f"answer headers longer than {HEAD_LIMIT} bytes")
        if status.split(b" ")[1:2] != [b"200"]:
            raise connection.failure(status[:100].decode(errors="replace").strip() or "no answer")
    except BaseException:
        connection.close()
        raise
    return connection


async def _get_json(engine: InstanceEngine, path: str) -> Any:
    """Return the JSON answer to a GET, of at most ANSWER_LIMIT bytes (callers bound the time)."""
    connection = await _request(engine, path)
    try:
        body = bytearray()
        while len(body) <= ANSWER_LIMIT and (more := await connection.read(ANSWER_LIMIT + 1 - len(body))):
            body += more
    finally:
        connection.close()
    if len(body) > ANSWER_LIMIT:
        raise Unanswered(f"{engine.ip}: an answer longer than {ANSWER_LIMIT} bytes")
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as e:
        raise Unanswered(f"{engine.ip}: an answer that is not JSON") from e


async def published_ports(engine: InstanceEngine, timeout: float) -> list[int]:
    """Return the host ports published by the engine's containers and (on a swarm manager) services, ascending."""
    async with _deadline(engine, timeout):
        containers = await _get_json(engine, "/containers/json")
        try:
            services = await _get_json(engine, "/services")
        except Unanswered:
            services = []  # a worker node, or no swarm: no services to publish
    found: set[int] = set()
    for container in _list(containers):
        found.update(_number(port.get("PublicPort")) for port in _list(container.get("Ports")))
    for service in _list(services):
        endpoint = service.get("Endpoint")
        ports = endpoint.get("Ports") if isinstance(endpoint, dict) else None
        found.update(_number(port.get("PublishedPort")) for port in _list(ports))
    found.discard(0)
    return sorted(found)[:PORTS_SHOWN]


def _list(value: object) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _number(value: object) -> int:
    return value if type(value) is int and 0 < value < 65536 else 0


@contextlib.asynccontextmanager
async def doorbell(engine: InstanceEngine, timeout: float) -> AsyncIterator[Doorbell]:
    """Open the engine's event stream for what changes published ports; it rings on every burst of events."""
    async with _deadline(engine, timeout):
        connection = await _request(engine, f"/events?filters={quote(_EVENTS, safe='')}")
    try:
        assert connection.transport is not None
        connection.transport.pause_reading()
        connection.bell = True
        sock = connection.transport.get_extra_info("socket")
        # An idle stream whose other end vanished (a frozen sandbox, a dropped route) is noticed within minutes.
        # (Relayed, it is the connection to the instance's engine: a unix socket, or TCP to another host.)
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            for option, value in ((socket.TCP_KEEPIDLE, 60), (socket.TCP_KEEPINTVL, 10), (socket.TCP_KEEPCNT, 3)):
                sock.setsockopt(socket.IPPROTO_TCP, option, value)
        yield Doorbell(connection)
    finally:
        connection.close()


class Doorbell:
    """An engine's event stream, read only to know that something happened."""

    def __init__(self, connection: _Connection) -> None:
        self._connection = connection

    async def rung(self) -> None:
        """Return once anything has arrived since the last ring; raise Unanswered when the stream ends."""
        await self._connection.rung()
