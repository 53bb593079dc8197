"""One viewer's terminal on one instance: a tmux client in a docker exec, bridged to the viewer's WebSocket.

Input is written in arrival order by a single writer per terminal. Output is read in frames of at most
FRAME_BYTES, decoded as UTF-8 incrementally (a character split across two reads survives) and, when the
viewer acknowledges frames, at most WINDOW_BYTES are in flight: past that the terminal stops reading, the
engine's socket fills, and tmux stops feeding this viewer, so a slow browser can neither grow the server's
memory nor slow the shell down for the others.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable

from sessions import engine
from terminals import tmux

log = logging.getLogger(__name__)

FRAME_BYTES = 32 * 1024
WINDOW_BYTES = 256 * 1024
INPUT_QUEUE_FRAMES = 256
FLUSH_SECONDS = 1.0
RETRY_SECONDS = (0.5, 1, 2, 5)
STABLE_SECONDS = 5

# send(event name, args) puts one PWD event on the WebSocket.
Send = Callable[[str, list[object]], Awaitable[None]]


class Window:
    """Count output bytes sent but not yet acknowledged; let the reader wait while too many are."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self._frames: deque[int] = deque()
        self._bytes = 0
        self._open = asyncio.Event()
        self._open.set()

    def sent(self, size: int) -> None:
        if self.limit is None:
            return
        self._frames.append(size)
        self._bytes += size
        if self._bytes >= self.limit:
            self._open.clear()

    def acknowledge(self, frames: int) -> None:
        for _ in range(min(frames, len(self._frames))):
            self._bytes -= self._frames.popleft()
        if self.limit is None or self._bytes < self.limit:
            self._open.set()

    async def wait_open(self) -> None:
        await self._open.wait()


class Terminal:
    """Attach to an instance's shared shell, keep it attached, and pump its output to one viewer."""

    def __init__(self, instance: str, send: Send, *, acknowledged: bool, size: tuple[int, int] | None) -> None:
        self.instance = instance
        self._send = send
        self._size = size
        self._window = Window(WINDOW_BYTES if acknowledged else None)
        self._input: asyncio.Queue[bytes] = asyncio.Queue(INPUT_QUEUE_FRAMES)
        self._stream: engine.ExecStream | None = None
        self._attached = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._attach_forever()), asyncio.create_task(self._write_input())]

    async def close(self) -> None:
        """Stop, after writing the input already queued (a ^C sent just before closing the tab still counts)."""
        if self._attached.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._input.join(), FLUSH_SECONDS)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._stream is not None:
            self._stream.close()

    async def write(self, data: str) -> None:
        """Queue keyboard input; it reaches the shell in the order queued."""
        # A full queue makes the consumer wait here, so a flood of input backs up into the viewer's socket.
        await self._input.put(data.encode())

    async def resize(self, cols: int, rows: int) -> None:
        self._size = (cols, rows)
        if self._stream is not None:
            await self._apply_size(self._stream)

    async def _apply_size(self, stream: engine.ExecStream) -> None:
        if self._size is None:
            return
        # An exec that is ending ignores this; the next attach applies the size again.
        await stream.resize(*self._size)

    def acknowledge(self, frames: int) -> None:
        self._window.acknowledge(frames)

    async def _attach_forever(self) -> None:
        """Attach, pump until the shell exits (`exit`), attach again to a fresh one; back off while that fails."""
        failures = 0
        status = "connect"
        while True:
            try:
                stream = await engine.open_exec(
                    self.instance, tmux.attach_command(), tty=True, env=tmux.ENV, workdir="/root"
                )
            except engine.EngineError as e:
                log.info("cannot attach to %s yet: %s", self.instance, e)
                stream = None
            if stream is not None:
                self._stream = stream
                attached_at = asyncio.get_running_loop().time()
                try:
                    await self._pump(stream, status)
                finally:
                    self._attached.clear()
                    self._stream = None
                    stream.close()
                status = "reconnect"
                # A shell that lasted is simply replaced; one that dies at once (a broken image) is retried slowly.
                if asyncio.get_running_loop().time() - attached_at > STABLE_SECONDS:
                    failures = 0
            await asyncio.sleep(RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)])
            failures += 1

    async def _pump(self, stream: engine.ExecStream, status: str) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        while True:
            await self._window.wait_open()
            data = await stream.reader.read(FRAME_BYTES)
            if data and not self._attached.is_set():
                # tmux has drawn, so the tty is raw: input reaches the shell now instead of a cooked echo. A size
                # set before the process started may not have reached it, so set it again now that it runs.
                self._attached.set()
                await self._apply_size(stream)
                await self._send("instance terminal status", [self.instance, status])
            text = decoder.decode(data, final=not data)
            if text:
                self._window.sent(len(data))
                await self._send("instance terminal out", [self.instance, text])
            if not data:
                return

    async def _write_input(self) -> None:
        while True:
            data = await self._input.get()
            await self._attached.wait()
            stream = self._stream
            try:
                if stream is not None:
                    stream.writer.write(data)
                    await stream.writer.drain()
            except (ConnectionError, RuntimeError) as e:
                log.info("input to %s lost with its exec: %s", self.instance, e)
            finally:
                self._input.task_done()
