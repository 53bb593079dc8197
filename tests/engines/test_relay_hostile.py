"""The relay into an instance on another host's engine, against a learner who replaced its nc (engine/relay).

The learner is root in the instance: what `busybox nc` is there is theirs to choose. Replacing it may break the
relay of their own ports, never cost the router, the gateway or the web process work without end, nor hold the
relay's bound for everyone once the process has ended.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from engine import execs, relay, streams
from gateway import tunnel
from tests.engines import test_tls
from tests.engines.test_tls import over_tls

instance = test_tls.instance  # the fixture: an instance of a session on the engine over TLS


class _Recorder(asyncio.Protocol):
    def __init__(self) -> None:
        self.data = bytearray()
        self.eof = asyncio.get_running_loop().create_future()
        self.lost = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        self.data += data

    def eof_received(self) -> bool:
        if not self.eof.done():
            self.eof.set_result(None)
        return True  # as the router's pipe: the other direction may go on

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(exc)


async def test_a_relay_that_floods_stderr_is_cut(instance: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    # An "nc" that writes its own words without end: nobody's reading it slows it, and none of it rings a
    # doorbell or counts against an engine's limits (engine/inner): it must be cut, not read for ever.
    monkeypatch.setattr(relay, "RELAY", ["sh", "-c", "while :; do cat /etc/services >&2; done", "nc"])
    transport, recorder = await relay.create_connection(over_tls(), instance["name"], _Recorder, instance["ip"], 1)
    try:
        async with asyncio.timeout(10):
            await recorder.lost
    finally:
        transport.abort()
    async with asyncio.timeout(10):  # its place is free once its process is killed
        while relay._open[(over_tls().url, instance["name"])]:
            await asyncio.sleep(0.1)


async def test_a_relay_whose_process_ended_is_no_longer_counted(
    instance: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A visitor who never hangs up its side, after the instance's server (and so nc) ended, must not hold the
    # instance's relays: one visitor would make every other's a 503. The relay ends with its output.
    monkeypatch.setattr(relay, "RELAYS_PER_INSTANCE", 1)
    monkeypatch.setattr(relay, "RELAY", ["sh", "-c", "echo bye", "nc"])
    transport, recorder = await relay.create_connection(over_tls(), instance["name"], _Recorder, instance["ip"], 1)
    try:
        async with asyncio.timeout(10):
            await recorder.eof
            await recorder.lost
        assert bytes(recorder.data) == b"bye\n"
        again, _ = await relay.create_connection(over_tls(), instance["name"], _Recorder, instance["ip"], 1)
        again.close()
    finally:
        transport.close()


class _Channel(asyncio.Transport):
    """Stands for the ssh channel asyncssh gives a forwarder once the client's channel is open."""

    def __init__(self) -> None:
        super().__init__()
        self.data = bytearray()
        self.eof = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.data += data

    def write_eof(self) -> None:
        self.eof = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    def close(self) -> None:
        pass


@pytest.fixture
def speaks_first(monkeypatch: pytest.MonkeyPatch) -> None:
    """Relay to a server that speaks first (sshd, SMTP, a database), its banner read with the engine's answer.

    The answer to the exec's start and the banner arrive together when the loop is busy: here the relay dawdles
    after the start, so the banner waits in the stream's reader before the relay is handed to its protocol.
    """
    opened = streams.open_exec

    async def open_and_dawdle(*args: Any, **kwargs: Any) -> streams.ExecStream:
        stream = await opened(*args, **kwargs)
        await asyncio.sleep(1)
        return stream

    monkeypatch.setattr(relay, "open_exec", open_and_dawdle)
    monkeypatch.setattr(relay, "RELAY", ["sh", "-c", "echo banner; sleep 3", "nc"])


@pytest.mark.usefixtures("speaks_first")
async def test_what_the_port_says_at_once_waits_until_the_caller_has_run_on(instance: dict[str, Any]) -> None:
    # As from loop.create_connection: the caller wires its protocol (to an ssh channel, a client) before the
    # protocol hears anything, so nothing is written to a side that is not there yet.
    transport, recorder = await relay.create_connection(over_tls(), instance["name"], _Recorder, instance["ip"], 1)
    try:
        assert bytes(recorder.data) == b""
        await asyncio.sleep(0)
        assert bytes(recorder.data) == b"banner\n"
    finally:
        transport.close()


@pytest.mark.usefixtures("speaks_first")
async def test_what_the_port_says_at_once_reaches_the_ssh_channel(instance: dict[str, Any]) -> None:
    # It must reach the ssh client all the same, as it does from a direct connection.
    side = await tunnel.open_tunnel(instance["ip"], 1, relay_from=(over_tls(), instance["name"]))
    channel = _Channel()
    side.connection_made(channel)
    try:
        async with asyncio.timeout(10):
            while not channel.eof:
                await asyncio.sleep(0.1)
        assert bytes(channel.data) == b"banner\n"
    finally:
        side.close()


def _in(instance: dict[str, Any], script: str) -> str:
    code, output = execs.exec_run(over_tls(), instance["name"], ["sh", "-c", script])
    assert code == 0, output
    return output.decode(errors="replace")


async def test_a_relay_the_visitor_hung_up_leaves_no_process_behind(instance: dict[str, Any]) -> None:
    # The real nc, to a port whose server streams and never ends (server-sent events, `docker logs -f`): once the
    # visitor hangs up, the engine only ends nc's stdin and nc, half-closed, runs on for ever. A visitor opening and
    # dropping connections would fill the instance with processes (and the server with clients, the engine with
    # execs) past RELAYS_PER_INSTANCE, which holds only while they run.
    ticker = "printf '#!/bin/sh\\nwhile :; do echo tick; sleep 0.2; done\\n' > /tick && chmod +x /tick"
    await asyncio.to_thread(
        _in, instance, f"{ticker} && (setsid busybox nc -ll -p 9000 -e /tick </dev/null >/dev/null 2>&1 &)"
    )
    relays = f"ps -eo args | grep -cxF 'busybox nc {instance['ip']} 9000' || true"
    opened = []
    for _ in range(3):
        transport, recorder = await relay.create_connection(
            over_tls(), instance["name"], _Recorder, instance["ip"], 9000
        )
        opened.append((transport, recorder))
    async with asyncio.timeout(10):
        while not all(recorder.data for _, recorder in opened):
            await asyncio.sleep(0.1)
    assert (await asyncio.to_thread(_in, instance, relays)).strip() == "3"
    for transport, _ in opened:
        transport.close()
    async with asyncio.timeout(10):
        while relay._open[(over_tls().url, instance["name"])]:
            await asyncio.sleep(0.1)
    assert (await asyncio.to_thread(_in, instance, relays)).strip() == "0"


async def test_a_kill_the_instance_dawdles_over_frees_the_place_in_time(
    instance: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The learner's grep (or sh) that never ends holds the relay's place for KILL_TIMEOUT, no longer, and no
    # thread of the engine pool meanwhile.
    monkeypatch.setattr(relay, "KILL", "sleep 60")
    monkeypatch.setattr(relay, "KILL_TIMEOUT", 1.0)
    monkeypatch.setattr(relay, "RELAY", ["sh", "-c", "sleep 60", "nc"])
    transport, _ = await relay.create_connection(over_tls(), instance["name"], _Recorder, instance["ip"], 1)
    transport.close()
    async with asyncio.timeout(5):
        while relay._open[(over_tls().url, instance["name"])]:
            await asyncio.sleep(0.1)
