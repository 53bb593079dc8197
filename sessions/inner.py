"""An instance's own Docker engine, called over its TLS API with the platform's client certificate.

Whatever answers there is the learner's to make up: they are root in the instance and may replace the engine.
So every call has a deadline and a size cap, an answer is only ever read as a few numbers, and the event stream
is a doorbell: its bytes are never parsed, any of them just means "look again".
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from sessions.engine import ENGINE_TLS_PORT

# Far more than a page of containers and services; anything longer is not an engine telling the truth.
ANSWER_LIMIT = 256 * 1024
HEAD_LIMIT = 16 * 1024
# What changes the published ports: containers starting and ending, services created, updated or removed.
_EVENTS = json.dumps({"type": ["container", "service"], "event": ["start", "die", "create", "update", "remove"]})
# Badges a page can show; a learner publishing a range of thousands gets the first ones.
PORTS_SHOWN = 100


class Unanswered(Exception):
    """The instance's engine did not answer as an engine does: refused, too slow, too long, or not HTTP."""


class InstanceEngine:
    """An instance's engine: where it listens, how its server is recognised, and how the platform signs in."""

    def __init__(
        self, ip: str, server_ca: str, client: tuple[Path, Path], server_cert: str = "", port: int = ENGINE_TLS_PORT
    ) -> None:
        """Build the TLS context (file reads: call this off the event loop).

        server_ca is the CA the server's certificate must chain to. An issued CA is the instance's own, so an
        address that now leads to another instance is refused; a docker-machine CA signs all of a client's machines,
        so their certificate (server_cert) is pinned too.
        """
        self.ip, self.port = ip, port
        self.tls = ssl.create_default_context(cadata=server_ca)
        # The server certificate names the router's wildcard, not this address.
        self.tls.check_hostname = False
        # Python 3.13 makes the default strict: certificates without key identifiers (ours, docker-machine's)
        # would be refused.
        self.tls.verify_flags &= ~getattr(ssl, "VERIFY_X509_STRICT", 0)
        self.tls.load_cert_chain(*client)
        self.pinned = _der(server_cert) if server_cert else None


def _der(pem: str) -> bytes:
    return x509.load_pem_x509_certificate(pem.encode()).public_bytes(serialization.Encoding.DER)


@contextlib.asynccontextmanager
async def _deadline(engine: InstanceEngine, timeout: float) -> AsyncIterator[None]:
    """Bound what the block waits for the engine; raise Unanswered when that runs out."""
    try:
        async with asyncio.timeout(timeout):
            yield
    except TimeoutError as e:
        raise Unanswered(f"{engine.ip}: no answer within {timeout:g}s") from e


async def _request(engine: InstanceEngine, path: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Send a GET and return the connection positioned at the body of a 200 answer (callers bound the time)."""
    # HTTP/1.0: the engine answers without chunking and closes at the end, so the body is all that follows.
    request = f"GET {path} HTTP/1.0\r\nHost: docker\r\n\r\n".encode()
    try:
        reader, writer = await asyncio.open_connection(engine.ip, engine.port, ssl=engine.tls, limit=HEAD_LIMIT)
    except (OSError, ssl.SSLError) as e:
        raise Unanswered(f"{engine.ip}: {str(e) or type(e).__name__}") from e
    try:
        peer = writer.get_extra_info("ssl_object")
        if engine.pinned and (peer is None or peer.getpeercert(binary_form=True) != engine.pinned):
            raise Unanswered(f"{engine.ip}: not the instance's own server certificate")
        writer.write(request)
        status = await reader.readline()
        head = len(status)
        while (line := await reader.readline()) not in (b"\r\n", b""):
            head += len(line)
            if head > HEAD_LIMIT:
                raise Unanswered(f"{engine.ip}: answer headers longer than {HEAD_LIMIT} bytes")
        if status.split(b" ")[1:2] != [b"200"]:
            raise Unanswered(f"{engine.ip}: {status[:100].decode(errors='replace').strip() or 'no answer'}")
    except (OSError, ssl.SSLError, ValueError) as e:  # ValueError: a line longer than HEAD_LIMIT
        writer.close()
        raise Unanswered(f"{engine.ip}: {str(e) or type(e).__name__}") from e
    except BaseException:
        writer.close()
        raise
    return reader, writer


async def _get_json(engine: InstanceEngine, path: str) -> Any:
    """Return the JSON answer to a GET, of at most ANSWER_LIMIT bytes (callers bound the time)."""
    reader, writer = await _request(engine, path)
    try:
        body = await reader.read(ANSWER_LIMIT + 1)
        while len(body) <= ANSWER_LIMIT and (more := await reader.read(ANSWER_LIMIT + 1 - len(body))):
            body += more
    except (OSError, ssl.SSLError) as e:
        raise Unanswered(f"{engine.ip}: {str(e) or type(e).__name__}") from e
    finally:
        writer.close()
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
        reader, writer = await _request(engine, f"/events?filters={quote(_EVENTS, safe='')}")
    sock = writer.get_extra_info("socket")
    # An idle stream whose other end vanished (a frozen sandbox, a dropped route) is noticed within minutes.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for option, value in ((socket.TCP_KEEPIDLE, 60), (socket.TCP_KEEPINTVL, 10), (socket.TCP_KEEPCNT, 3)):
        sock.setsockopt(socket.IPPROTO_TCP, option, value)
    try:
        yield Doorbell(engine.ip, reader)
    finally:
        writer.close()


class Doorbell:
    """An engine's event stream, read only to know that something happened."""

    def __init__(self, ip: str, reader: asyncio.StreamReader) -> None:
        self._ip = ip
        self._reader = reader

    async def rung(self) -> None:
        """Return once anything has arrived (taking all that has); raise Unanswered when the stream ends."""
        try:
            data = await self._reader.read(64 * 1024)
        except (OSError, ssl.SSLError) as e:
            raise Unanswered(f"{self._ip}: {str(e) or type(e).__name__}") from e
        if not data:
            raise Unanswered(f"{self._ip}: the event stream ended")
