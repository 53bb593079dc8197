"""A terminal as the benchmarks type into it: the session page's WebSocket protocol, a lean WebSocket client, and
the keystroke echo measured the same way through any of them."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from websockets.asyncio.client import connect
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Request, Response
from websockets.uri import parse_uri

from bench.terminal_floor import SansIoWebSocket

COLS, ROWS = 120, 40
ACK_FRAMES = 4


class Terminal(Protocol):
    async def send(self, keys: str) -> None: ...
    async def read(self) -> str: ...
    async def close(self) -> None: ...


class WebSocket(Protocol):
    async def send(self, message: str, /) -> None: ...
    async def recv(self) -> str | bytes: ...
    async def close(self) -> None: ...


class LeanWebSocket(SansIoWebSocket):
    """A WebSocket client as lean as a pty read by asyncio: websockets' frame parser, fed from the socket's
    callback, and a queue of the texts received.

    The `websockets` asyncio client adds 0.07-0.19 ms to every round trip (its own tasks and locks), which would
    be counted against the server; a browser's is native code. It reads everything at once, so a slow reader is
    left to the `websockets` client (PageTerminal.open with lean=False).
    """

    def __init__(self, protocol: ClientProtocol) -> None:
        self.protocol = protocol
        self.texts: asyncio.Queue[str | None] = asyncio.Queue()  # None: the connection is gone
        self.opened = asyncio.get_running_loop().create_future()

    @classmethod
    async def open(cls, url: str) -> LeanWebSocket:
        uri = parse_uri(url)
        loop = asyncio.get_running_loop()
        client = ClientProtocol(uri, max_size=None)
        _, ws = await loop.create_connection(lambda: cls(client), uri.host, uri.port)
        client.send_request(client.connect())
        ws.flush()
        await ws.opened
        return ws

    def event(self, event: Request | Response | Frame) -> None:
        if not self.opened.done():
            if self.protocol.handshake_exc is not None:
                self.opened.set_exception(self.protocol.handshake_exc)
            else:
                self.opened.set_result(None)
        elif isinstance(event, Frame) and event.opcode is Opcode.TEXT:
            self.texts.put_nowait(bytes(event.data).decode())

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc or ConnectionError("closed during the handshake"))
        self.texts.put_nowait(None)

    async def send(self, message: str, /) -> None:
        self.send_text(message)

    async def recv(self) -> str:
        text = await self.texts.get()
        if text is None:
            raise ConnectionError("the server closed the WebSocket")
        return text

    async def close(self) -> None:
        self.transport.close()


class PageTerminal:
    """One instance's terminal through the session WebSocket, acknowledging output frames in batches of ACK_FRAMES
    as the page does (unless told not to, as a PWD-era client)."""

    def __init__(self, ws: WebSocket, instance: str, acknowledge: bool = True) -> None:
        self.ws, self.instance, self.acknowledge = ws, instance, acknowledge
        self.unacknowledged = 0

    @classmethod
    async def open(
        cls, base: str, session_id: str, instance: str, acknowledge: bool = True, lean: bool = True
    ) -> PageTerminal:
        """Connect to the session WebSocket under base (ws://host:port) and size the terminals as the page does."""
        query = "?flow=ack" if acknowledge else ""
        url = f"{base}/sessions/{session_id}/ws/{query}"
        ws: WebSocket = await LeanWebSocket.open(url) if lean else await connect(url, max_size=None)
        await ws.send(json.dumps({"name": "instance viewport resize", "args": [COLS, ROWS]}))
        return cls(ws, instance, acknowledge)

    async def send(self, keys: str) -> None:
        await self.ws.send(json.dumps({"name": "instance terminal in", "args": [self.instance, keys]}))

    async def read(self) -> str:
        while True:
            event = json.loads(await self.ws.recv())
            if event["name"] == "instance terminal out":
                self.unacknowledged += 1
                if self.acknowledge and self.unacknowledged >= ACK_FRAMES:
                    args = [self.instance, self.unacknowledged]
                    await self.ws.send(json.dumps({"name": "instance terminal ack", "args": args}))
                    self.unacknowledged = 0
                return str(event["args"][1])

    async def close(self) -> None:
        await self.ws.close()


async def read_until(term: Terminal, needle: str, timeout: float = 120) -> int:
    """Read until needle appears; return the number of characters read."""
    seen, tail = 0, ""
    async with asyncio.timeout(timeout):
        while True:
            chunk = await term.read()
            seen += len(chunk)
            if needle in tail + chunk:
                return seen
            tail = (tail + chunk)[-len(needle) :]


async def drain(read: Callable[[], Awaitable[object]], quiet: float = 0.5) -> None:
    """Read and drop whatever comes until nothing has for quiet seconds."""
    while True:
        try:
            await asyncio.wait_for(read(), quiet)
        except TimeoutError:
            return


async def echo_times(term: Terminal, samples: int, warmup: int = 20) -> list[float]:
    """Type one key at a time and time until its echo comes back; return milliseconds, warm-up keys left out."""
    # A token of this call's own: what the terminal printed before (replayed on connecting) never matches it.
    token = secrets.token_hex(4)
    await term.send(f"echo {token}-$((6*7))\r")
    await read_until(term, f"{token}-42")
    await drain(term.read)
    times = []
    for n in range(warmup + samples):
        started = time.perf_counter()
        await term.send("z")
        await read_until(term, "z", timeout=10)
        if n >= warmup:
            times.append((time.perf_counter() - started) * 1000)
        if n % 50 == 49:
            await term.send("\x15")  # ^U: keep the line short, so no redraw of a wrapped line skews a sample
            await drain(term.read, 0.2)
    await term.send("\x15")
    await drain(term.read)
    return times
