"""Issue 3's acceptance: a Python WebSocket client speaking PWD's protocol to a real Daphne server."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from terminals.origin import CLOSE_FORBIDDEN_ORIGIN
from tests.terminals.conftest import PROMPT, seen


class Client:
    """PWD's protocol over a real socket: events in, terminal output gathered per instance."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.screen: dict[str, str] = {}

    async def send(self, name: str, *args: Any) -> None:
        await self.ws.send(json.dumps({"name": name, "args": list(args)}))

    async def until(self, name: str) -> dict[str, Any]:
        while True:
            event = json.loads(await self.ws.recv())
            if event["name"] == "instance terminal out":
                instance, data = event["args"]
                self.screen[instance] = self.screen.get(instance, "") + data
            if event["name"] == name:
                return dict(event)

    async def ready(self, instance: str) -> None:
        await self.until("instance terminal status")
        start = len(self.screen.get(instance, ""))
        while PROMPT not in self.screen.get(instance, "")[start:]:
            await self.until("instance terminal out")

    async def output_until(self, instance: str, needle: str) -> str:
        while needle not in self.screen.get(instance, ""):
            await self.until("instance terminal out")
        return self.screen[instance]


def ws_url(daphne_url: str, session_id: str) -> str:
    return daphne_url.replace("http://", "ws://") + f"/sessions/{session_id}/ws/"


async def test_it_answers_42(daphne_url: str, node: dict[str, Any]) -> None:
    async with connect(ws_url(daphne_url, node["session_id"])) as ws:
        client = Client(ws)
        await client.ready(node["name"])
        await client.send("instance terminal in", node["name"], "echo $((6*7))\r")
        async with asyncio.timeout(30):
            await client.output_until(node["name"], "42\r\n")


async def test_it_keeps_500_back_to_back_frames_in_order(daphne_url: str, node: dict[str, Any]) -> None:
    name = node["name"]
    async with connect(ws_url(daphne_url, node["session_id"])) as ws:
        client = Client(ws)
        await client.ready(node["name"])
        await client.send("instance terminal in", name, "cat > /tmp/frames\r")
        frames = [json.dumps({"name": "instance terminal in", "args": [name, f"{n} "]}) for n in range(500)]
        await asyncio.gather(*(ws.send(frame) for frame in frames))
        await client.send(
            "instance terminal in", name, "\r\x04clear; tr -s ' ' '\\n' < /tmp/frames | sort -nc && echo IN-ORDER\r"
        )
        async with asyncio.timeout(30):
            screen = await client.output_until(name, "IN-ORDER\r\n")
        assert "disorder" not in screen


async def test_it_shows_the_last_output_once_on_reconnect(daphne_url: str, node: dict[str, Any]) -> None:
    name, url = node["name"], ws_url(daphne_url, node["session_id"])
    async with connect(url) as ws:
        first = Client(ws)
        await first.ready(node["name"])
        await first.send("instance terminal in", name, "echo last-$((7*6))\r")
        async with asyncio.timeout(30):
            await first.output_until(name, "last-42")
    async with connect(url) as ws:
        again = Client(ws)
        await again.ready(node["name"])
        await again.send("instance terminal in", name, "echo after-$((1+1))\r")
        async with asyncio.timeout(30):
            screen = await again.output_until(name, "after-2\r\n")
    assert seen(screen).count("last-42") == 1


async def test_it_refuses_a_wrong_origin(daphne_url: str, node: dict[str, Any]) -> None:
    url = ws_url(daphne_url, node["session_id"])
    async with connect(url, origin="https://evil.example.com") as ws:  # type: ignore[arg-type]
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == CLOSE_FORBIDDEN_ORIGIN
