"""Terminal fixtures: a session with one node, a Redis database of our own, a PWD-protocol viewer."""

from __future__ import annotations

import asyncio
import copy
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyte
import pytest
from channels.testing import WebsocketCommunicator

from playground.asgi import application
from sessions.models import Playground
from tests.conftest import Api
from tests.daphne import start_daphne, stop_daphne

# Our own Redis database, so channel-layer groups never mix with another run's (issue 3 → DB 3).
REDIS_URL = os.environ.get("TERMINALS_TEST_REDIS_URL", "redis://127.0.0.1:6379/3")
ROOT = Path(__file__).resolve().parents[2]
# Part of the sandbox's prompt: once drawn, the shell reads what is typed (typeahead during its start may be lost).
PROMPT = "(local) root@"


@pytest.fixture(autouse=True)
def own_channel_layer(settings: Any) -> None:
    layer = copy.deepcopy(settings.CHANNEL_LAYERS)
    layer["default"]["CONFIG"]["hosts"][0]["address"] = REDIS_URL
    settings.CHANNEL_LAYERS = layer


@pytest.fixture(autouse=True)
def no_lingering_terminals(settings: Any) -> None:
    """Close a terminal when its last viewer leaves: each test's event loop ends with the test."""
    settings.TERMINAL_LINGER = 0


@pytest.fixture
def node(live: Playground, api: Api) -> dict[str, Any]:
    """Start a session with one running instance and return the instance's JSON."""
    return api.add(api.start())


class Viewer:
    """A browser's side of PWD's session WebSocket, driven in-process through the ASGI application."""

    def __init__(self, session_id: str, origin: str | None = None, query: str = "") -> None:
        headers = [(b"host", b"testserver")]
        if origin is not None:
            headers.append((b"origin", origin.encode()))
        path = f"/sessions/{session_id}/ws/" + (f"?{query}" if query else "")
        self.ws = WebsocketCommunicator(application, path, headers=headers)
        self.screen: dict[str, str] = {}

    async def __aenter__(self) -> Viewer:
        connected, _ = await self.ws.connect(timeout=10)
        assert connected
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.ws.disconnect(timeout=10)

    async def send(self, name: str, *args: Any) -> None:
        await self.ws.send_to(text_data=json.dumps({"name": name, "args": list(args)}))

    async def event(self, timeout: float = 30) -> dict[str, Any]:
        """Return the next event; a close arrives as {"name": "close", "args": [code]}."""
        message = await self.ws.receive_output(timeout)
        if message["type"] == "websocket.close":
            return {"name": "close", "args": [message.get("code")]}
        event = json.loads(message["text"])
        if event["name"] == "instance terminal out":
            self.screen[event["args"][0]] = self.screen.get(event["args"][0], "") + event["args"][1]
        return dict(event)

    async def until(self, name: str, timeout: float = 30) -> dict[str, Any]:
        """Return the first event called `name`, remembering terminal output on the way."""
        async with asyncio.timeout(timeout):
            while True:
                event = await self.event(timeout)
                if event["name"] == name:
                    return event

    async def output_until(self, instance: str, needle: str, timeout: float = 30) -> str:
        """Read terminal output until `needle` appears; return everything read for the instance so far."""
        async with asyncio.timeout(timeout):
            while needle not in self.screen.get(instance, ""):
                await self.event(timeout)
        return self.screen[instance]

    async def ready(self, instance: str) -> dict[str, Any]:
        """Wait until the instance's terminal is attached and shows a prompt drawn after attaching."""
        status = await self.until("instance terminal status")
        start = len(self.screen.get(instance, ""))
        async with asyncio.timeout(30):
            while PROMPT not in self.screen.get(instance, "")[start:]:
                await self.event()
        return status

    async def type(self, instance: str, keys: str) -> None:
        await self.send("instance terminal in", instance, keys)


@pytest.fixture
def daphne_url(live: Playground, tmp_path: Path) -> Iterator[str]:
    """Serve the site with a real Daphne on a free loopback port, sharing this test's database file."""
    server = start_daphne(tmp_path / "daphne.log", REDIS_URL=REDIS_URL)
    yield server.url
    stop_daphne(server)


def seen(stream: str, cols: int = 80, rows: int = 24) -> str:
    """Return what a terminal shows after `stream`: its scrollback, then its screen, one line each."""
    screen = pyte.HistoryScreen(cols, rows, history=10_000)
    pyte.Stream(screen).feed(stream)
    scrolled = ["".join(line[x].data for x in range(cols)) for line in screen.history.top]
    return "\n".join(line.rstrip() for line in [*scrolled, *screen.display])
