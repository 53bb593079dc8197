"""An instance whose engine answers slowly, with garbage, or not at all delays no one else's ports.

The learner is root in the instance and may put anything on the engine's port; the platform follows the ports of
every viewed instance from its event stream, all in one web process, so one such instance must cost the others
nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from engine import inner, tls
from sessions.models import Playground
from terminals import ports
from tests.conftest import Api, sh
from tests.router.conftest import with_busybox
from tests.terminals.conftest import publish_web

STOP_ENGINE = "kill $(ps -o ppid= -C dockerd); pkill -x dockerd; while pgrep -x dockerd >/dev/null; do sleep 0.1; done"
# Port 2375 (0x0947) listening, in the kernel's table.
LISTENING = (
    "for _ in $(seq 50); do grep -q ':0947 0*:0000 0A' /proc/net/tcp /proc/net/tcp6 && exit 0; sleep 0.1; done; exit 1"
)
TLS = "openssl s_server -quiet -accept 2375 -cert /etc/docker/tls/cert.pem -key /etc/docker/tls/key.pem"
FAKE_ENGINES = {
    # Takes the connection, never starts TLS.
    "silent": "busybox nc -ll -p 2375 -e sleep 3600",
    # Completes TLS with the real certificate, then never answers.
    "mute": f"sleep 3600 | {TLS}",
    # An answer whose headers never end.
    "endless headers": f'yes "HTTP/1.0 200 OK" | {TLS}',
    # An event stream that never stops ringing.
    "flooding": f'(printf "HTTP/1.0 200 OK\\r\\n\\r\\n"; yes) | {TLS}',
    # Not HTTP at all.
    "garbage": f"head -c 100000000 /dev/urandom | {TLS}",
}


async def test_an_instance_with_a_fake_engine_delays_no_one_elses_ports(
    live: Playground, api: Api, viewing: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="terminals.ports")
    hostile = []
    for name, fake in FAKE_ENGINES.items():
        instance = await sync_to_async(api.add)(await sync_to_async(api.start)())
        start = f"(setsid sh -c '{fake}' >/tmp/fake.log 2>&1 &)"
        script = f"{STOP_ENGINE}; {start}; ({LISTENING}) || (head -c 3000 /tmp/fake.log; exit 1)"
        code, output = await sync_to_async(sh)(instance, script)
        assert code == 0, f"{name}: {output}"
        hostile.append(instance)
    honest = await sync_to_async(api.add)(await sync_to_async(api.start)())
    await sync_to_async(with_busybox)(honest)

    for instance in hostile:
        await viewing(instance)
    viewer = await viewing(honest)
    await viewer.until([])
    async with asyncio.timeout(30):  # every fake has failed once and is being retried
        while not all(f"ports of {i['name']}" in caplog.text for i in hostile):
            await asyncio.sleep(0.1)

    await sync_to_async(publish_web)(honest, "8080:80")
    published = time.monotonic()
    assert await viewer.until([8080]) - published < 5


Answer = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def fake_engine(answer: Answer, tickets: int = 2, chain: int = 0) -> tuple[asyncio.Server, inner.InstanceEngine]:
    """Serve a fake engine on loopback with a certificate of its own CA (sent with `chain` extra copies of the CA's);
    return it and how the platform reaches it."""
    issued = tls.issue("fake", valid_until=timezone.now() + timedelta(days=1))
    with tempfile.TemporaryDirectory() as folder:
        pem = issued.engine.server_key + issued.engine.server_cert + issued.engine.ca_cert * chain
        (Path(folder) / "server.pem").write_text(pem)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(Path(folder) / "server.pem")
    context.num_tickets = tickets
    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    client = (issued.client_cert, issued.client_key)
    return server, inner.InstanceEngine("127.0.0.1", issued.engine.ca_cert, *client, port=port)


async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read()


async def test_a_flood_of_tls_messages_that_carry_no_data_is_cut_soon() -> None:
    # Some ten thousand session tickets: TLS records the platform must process, none of them an answer.
    server, engine = await fake_engine(never_answer, tickets=10_000)
    with pytest.raises(inner.Unanswered, match=f"more than {inner.OVERHEAD_LIMIT} bytes of TLS records beyond"):
        await inner.published_ports(engine, 5)
    server.close()


async def test_an_engine_that_sends_a_byte_at_a_time_is_cut_after_so_many_reads() -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        writer.write(b"HTTP/1.0 200 OK\r\n\r\n[" + b"1," * inner.READS_LIMIT + b"1]")
        await writer.drain()
        writer.close()

    server, engine = await fake_engine(answer)
    upstream_port = engine.port

    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Between the platform and the fake engine: what the engine sends goes on one byte per TCP segment.
        upstream_reader, upstream = await asyncio.open_connection("127.0.0.1", upstream_port)

        async def up() -> None:
            while data := await reader.read(65536):
                upstream.write(data)

        uploading = asyncio.create_task(up())
        with contextlib.suppress(ConnectionError):
            while data := await upstream_reader.read(65536):
                for byte in data:
                    writer.write(bytes([byte]))
                    await writer.drain()
                    await asyncio.sleep(0.001)
        uploading.cancel()
        upstream.close()
        writer.close()

    proxy = await asyncio.start_server(trickle, "127.0.0.1", 0)
    engine.port = proxy.sockets[0].getsockname()[1]
    with pytest.raises(inner.Unanswered, match=f"more than {inner.READS_LIMIT} reads"):
        await inner.published_ports(engine, 30)
    proxy.close()
    server.close()


async def test_a_handshake_with_a_chain_of_hundreds_of_certificates_is_cut() -> None:
    server, engine = await fake_engine(never_answer, chain=200)
    with pytest.raises(inner.Unanswered, match=f"a TLS handshake longer than {inner.HANDSHAKE_LIMIT} bytes"):
        await inner.published_ports(engine, 5)
    server.close()


async def test_a_long_answer_is_decrypted_a_record_at_a_time_between_everyone_elses_work() -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        writer.write(b"HTTP/1.0 200 OK\r\n\r\n[" + b"1," * (inner.ANSWER_LIMIT // 2 - 2) + b"1]")
        await writer.drain()
        writer.close()

    turns = 0

    async def someone_else() -> None:
        nonlocal turns
        while True:
            await asyncio.sleep(0)
            turns += 1

    server, engine = await fake_engine(answer)
    other = asyncio.create_task(someone_else())
    assert await inner.published_ports(engine, 5) == []
    other.cancel()
    server.close()
    # Two answers of a quarter MiB each, in records of at most 16 KiB: the loop turned between any two of them.
    assert turns >= 2 * inner.ANSWER_LIMIT // 2**14


async def test_an_engine_that_never_stops_ringing_is_looked_at_ever_less_often() -> None:
    looks = 0

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal looks
        request = await reader.readline()
        if request.startswith(b"GET /events"):
            writer.write(b"HTTP/1.0 200 OK\r\n\r\n")
            with contextlib.suppress(ConnectionError):  # until the platform hangs up
                while True:  # an event every 10 ms
                    writer.write(b"{}\n")
                    await writer.drain()
                    await asyncio.sleep(0.01)
            return
        looks += request.startswith(b"GET /containers")
        # As long an answer as is read: a quarter MiB of JSON to parse at every look.
        writer.write(b"HTTP/1.0 200 OK\r\n\r\n[" + b"1," * (inner.ANSWER_LIMIT // 2 - 2) + b"1]")
        await writer.drain()
        writer.close()

    server, engine = await fake_engine(answer)
    told: list[list[int]] = []

    async def tell(published: list[int]) -> None:
        told.append(published)

    following = asyncio.create_task(ports.follow_engine(engine, tell))
    await asyncio.sleep(8)  # the behaviour under test: how often it looks in 8 s
    following.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await following
    server.close()

    # Looked at 0, 0.5, 1.5, 3.5 s and so on; looking after every gap of 0.5 s would have been 16 times.
    assert 3 <= looks <= 5
    assert told == [[]] * looks
