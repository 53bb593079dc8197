"""A sandbox's counters come from the host's engine, within a deadline and a size, whatever the sandbox does."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async

from engine import EngineError, usage
from engine.daemon import Daemon, default
from sessions.models import Playground
from tests.conftest import Api, sh

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def test_it_counts_a_running_sandbox(live: Playground, api: Api) -> None:
    instance = await sync_to_async(api.add)(await sync_to_async(api.start)())
    counted = await usage.usage(default(), instance["name"], 5)
    assert counted.memory_limit == live.memory_limit_mb * 1024 * 1024
    assert 0 < counted.memory < counted.memory_limit
    assert counted.cpu_ns > 0 and counted.system_ns > counted.cpu_ns and counted.cpus >= 1


def test_it_samples_the_memory_an_engines_sandboxes_take(live: Playground, api: Api) -> None:
    api.add(api.start())
    mean = usage.sandboxes_memory(default(), sample=5, timeout=5)
    assert mean is not None and 1024 * 1024 < mean < live.memory_limit_mb * 1024 * 1024


def test_one_sandbox_filling_its_limit_does_not_move_the_sample(monkeypatch: pytest.MonkeyPatch) -> None:
    """A learner may fill their instance's memory: the engine's figure is the median of its sample, not the mean."""
    mib = 1024 * 1024
    memory = {f"s{n}": 40 * mib for n in range(30)} | {"hog": 4096 * mib}

    class Listing:
        def containers(self, filters: dict[str, str]) -> list[dict[str, str]]:
            return [{"Id": name} for name in memory]

    async def counted(daemon: Daemon, name: str, timeout: float) -> usage.Usage:
        return usage.Usage(0, 0, 1, memory[name], 8192 * mib, 0, 0)

    monkeypatch.setattr(Daemon, "api", lambda self, seconds: Listing())
    monkeypatch.setattr(usage, "usage", counted)
    for _ in range(20):  # whichever sandboxes are drawn
        assert usage.sandboxes_memory(Daemon("unix:///nowhere"), sample=20, timeout=5) == 40 * mib


async def test_it_tells_a_missing_sandbox_quickly(docker_engine: None) -> None:
    started = time.monotonic()
    with pytest.raises(EngineError, match="404"):
        await usage.usage(default(), "pg-no-such-sandbox", 5)
    assert time.monotonic() - started < 5


async def test_interfaces_made_inside_do_not_grow_the_answer(live: Playground, api: Api) -> None:
    instance = await sync_to_async(api.add)(await sync_to_async(api.start)())
    # Root in the sandbox makes network interfaces at will; the engine reports only those it made.
    make = "seq 1500 | sed 's/.*/link add a& type veth peer name b&/' | ip -batch - && ip -o link | wc -l"
    code, output = await asyncio.to_thread(sh, instance, make)
    assert code == 0 and int(output) > 3000, output
    answer = await usage._get(default(), f"/containers/{instance['name']}/stats?stream=false&one-shot=true")
    assert len(answer) < 8 * 1024
    assert (await usage.usage(default(), instance["name"], 5)).memory > 0


@pytest.fixture
def engine_at(docker_engine: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[Handler], None]:
    """Answer the platform's calls for counters with handle(reader, writer) instead of the engine."""

    def answer_with(handle: Handler) -> None:
        socket = str(tmp_path / "engine.sock")

        async def connect(self: Daemon) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
            if not Path(socket).exists():
                await asyncio.start_unix_server(handle, socket)
            return await asyncio.open_unix_connection(socket)

        monkeypatch.setattr(Daemon, "open_connection", connect)

    return answer_with


async def test_an_endless_answer_is_cut_at_the_limit(engine_at: Callable[[Handler], None]) -> None:
    async def endless(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n[")
        with contextlib.suppress(ConnectionError):
            while True:
                writer.write(b"[" * 65536)
                await writer.drain()

    engine_at(endless)
    with pytest.raises(EngineError, match="over"):
        await usage.usage(default(), "pg-anything", 5)


async def test_a_silent_engine_is_given_up_at_the_deadline(engine_at: Callable[[Handler], None]) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()

    engine_at(silent)
    started = time.monotonic()
    with pytest.raises(EngineError, match="within 1 s"):
        await usage.usage(default(), "pg-anything", 1)
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("body", [b"[" * 100_000, b"\xff\xfe", b"[1, 2]", b'{"memory_stats": {"limit": 0}}'])
async def test_an_answer_not_understood_is_an_engine_error(engine_at: Callable[[Handler], None], body: bytes) -> None:
    async def odd(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.0 200 OK\r\n\r\n" + body)
        writer.close()

    engine_at(odd)
    with pytest.raises(EngineError):
        await usage.usage(default(), "pg-anything", 5)
