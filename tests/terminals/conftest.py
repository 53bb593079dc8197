"""Terminal fixtures: a session with one node, a Redis database of our own, a PWD-protocol viewer."""

from __future__ import annotations

import asyncio
import copy
import json
import os
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pyte
import pytest
from channels.testing import WebsocketCommunicator
from playwright.sync_api import Page, sync_playwright

from engine.daemon import default
from playground.asgi import application
from sessions.models import Playground
from terminals import hub
from tests.conftest import Api, sh
from tests.daphne import start_daphne, stop_daphne
from tests.terminals.chromium import CHROMIUM, CHROMIUM_ARGS

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


def publish_web(instance: dict[str, Any], *publish: str, name: str = "") -> None:
    flags = " ".join(f"-p {p}" for p in publish) + (f" --name {name}" if name else "")
    code, output = sh(instance, f"docker run -d {flags} busybox httpd -f -p 80")
    assert code == 0, output


class PortsViewer:
    """A viewer of one instance's terminal that keeps the published ports it is told, as the page does."""

    def __init__(self) -> None:
        self.told: asyncio.Queue[tuple[float, list[int]]] = asyncio.Queue()

    async def send(self, name: str, args: list[Any]) -> None:
        if name == "instance docker ports":
            await self.told.put((time.monotonic(), args[0]["ports"]))

    async def until(self, ports: list[int], timeout: float = 10) -> float:
        """Return when the viewer was told exactly these ports."""
        async with asyncio.timeout(timeout):
            while True:
                at, told = await self.told.get()
                if told == ports:
                    return at


@pytest.fixture
async def viewing(live: Playground) -> AsyncIterator[Any]:
    """Join instances' terminals as a viewer; leave them all at the end."""
    joined: list[hub.Viewer] = []

    async def view(instance: dict[str, Any]) -> PortsViewer:
        viewer = PortsViewer()
        joined.append(await hub.join(default(), instance["name"], viewer.send, acknowledged=False, size=None))
        return viewer

    yield view
    for viewer in joined:
        await viewer.leave()


@pytest.fixture
def page(daphne_url: str) -> Iterator[Page]:
    if not Path(CHROMIUM).exists():
        pytest.fail("no Debian chromium: run bin/setup --dev")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 1000}, base_url=daphne_url)
        yield context.new_page()
        browser.close()
