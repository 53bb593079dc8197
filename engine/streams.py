"""A process's stdio, or a sandbox's own terminal, as a raw asyncio stream hijacked from the engine's API."""

from __future__ import annotations

import asyncio
import json
import logging
import struct
import time
from dataclasses import dataclass
from typing import cast

from engine import ENGINE_ERRORS, EngineError, give
from engine.daemon import Daemon, run_blocking

log = logging.getLogger(__name__)

# An exec's output is read into one buffer of this size (grown only for a larger frame), at least this much a read.
_OUTPUT_BUFFER = 1 << 20
_MIN_READ = 64 * 1024


class Frames:
    """The engine's stdout and stderr of a process without a tty, multiplexed: frames of 8 bytes of header (the
    stream, then the size), then the data.

    Bytes are read straight into room(); runs() takes every complete frame, without copying.
    """

    def __init__(self) -> None:
        self._buffer = bytearray(_OUTPUT_BUFFER)
        self._start = self._end = 0

    @property
    def pending(self) -> int:
        """Return how many bytes arrived that no complete frame holds yet."""
        return self._end - self._start

    def room(self) -> memoryview:
        """Return where the next bytes go: at least _MIN_READ of them, or the rest of a larger frame."""
        if len(self._buffer) - self._end < _MIN_READ:
            self._make_room()
        return memoryview(self._buffer)[self._end :]

    def filled(self, nbytes: int) -> None:
        """Count nbytes written into room() as arrived."""
        self._end += nbytes

    def feed(self, data: bytes | bytearray) -> None:
        """Add bytes that arrived elsewhere."""
        view = memoryview(data)
        while view:
            room = self.room()
            n = min(len(room), len(view))
            room[:n] = view[:n]
            self.filled(n)
            view = view[n:]

    def take(self) -> bytes:
        """Take every byte that arrived, as it is: a tty's output is not framed."""
        data = bytes(self._buffer[self._start : self._end])
        self._start = self._end = 0
        return data

    def runs(self) -> list[tuple[int, list[memoryview]]]:
        """Take every complete frame, merged into runs of the same stream: (1 stdout or 2 stderr, its parts)."""
        view = memoryview(self._buffer)
        runs: list[tuple[int, list[memoryview]]] = []
        pos, end = self._start, self._end
        while end - pos >= 8:
            kind, size = view[pos], int.from_bytes(view[pos + 4 : pos + 8], "big")
            if end - pos - 8 < size:
                break
            if runs and runs[-1][0] == kind:
                runs[-1][1].append(view[pos + 8 : pos + 8 + size])
            else:
                runs.append((kind, [view[pos + 8 : pos + 8 + size]]))
            pos += 8 + size
        # Views into the buffer stay valid: the frames consumed are only overwritten by later reads.
        self._start, self._end = (0, 0) if pos == end else (pos, end)
        return runs

    def _make_room(self) -> None:
        pending = self._buffer[self._start : self._end]
        needed = len(pending) + _MIN_READ
        if len(pending) >= 8:
            needed = max(needed, 8 + int.from_bytes(pending[4:8], "big"))
        if needed > len(self._buffer):
            self._buffer = bytearray(max(needed, 2 * len(self._buffer)))
        self._buffer[: len(pending)] = pending
        self._start, self._end = 0, len(pending)


@dataclass
class _Stdio:
    """What is written reaches the process's stdin (or the terminal); what it prints is read back."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    def write(self, data: bytes) -> None:
        """Send input; it waits in memory for the engine to take it (see drain)."""
        self.writer.write(data)

    async def drain(self) -> None:
        """Wait while too much input waits: a process that does not read its stdin holds the writer here."""
        await self.writer.drain()

    async def read(self, n: int = -1) -> bytes:
        """Return up to n bytes of output (all of it, to the end, when n is -1); b"" at the end."""
        return await self.reader.read(n)

    def close(self) -> None:
        self.writer.close()


@dataclass
class ExecStream(_Stdio):
    """A process started inside a sandbox, with its stdio as a raw asyncio stream."""

    exec_id: str
    tty: bool
    daemon: Daemon

    def write_eof(self) -> None:
        """End the process's stdin (a tty has none to end: the engine would hang the terminal up)."""
        self.writer.write_eof()

    async def resize(self, cols: int, rows: int) -> None:
        """Resize a tty exec's window; a process that has already ended has no window left to resize."""
        try:
            await run_blocking(self.daemon.client().api.exec_resize, self.exec_id, height=rows, width=cols)
        except ENGINE_ERRORS as e:
            log.debug("resize of exec %s skipped: %s", self.exec_id, e)

    async def exit_code(self) -> int | None:
        """Return the exit code once the process has ended, else None."""
        info = await run_blocking(self.daemon.client().api.exec_inspect, self.exec_id)
        return None if info["Running"] else info["ExitCode"]

    async def read_frame(self) -> tuple[int, bytes]:
        """Read one (stream, data) frame of a non-tty exec: stream 1 is stdout, 2 stderr; (0, b"") at the end."""
        try:
            header = await self.reader.readexactly(8)
            stream, size = header[0], struct.unpack(">I", header[4:])[0]
            return stream, await self.reader.readexactly(size)
        except asyncio.IncompleteReadError:
            return 0, b""

    async def pipe_output(self, protocol: ExecOutput) -> None:
        """Hand the connection to protocol, which gets all output from now on, starting with any already read.

        Writing stdin goes on through write(), but without drain(): flow control now reaches protocol instead.
        """
        transport = cast(asyncio.Transport, self.writer.transport)
        # Paused, no output arrives between the reader's last bytes and the protocol's first.
        transport.pause_reading()
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        self.reader.feed_eof()
        early = memoryview(await self.reader.read())
        if not transport.is_closing():
            # Nothing arrives before the early bytes below: callbacks run only after this returns. A socket
            # already at its end reports the end again, now to protocol.
            transport.resume_reading()
        give(protocol, early)
        if transport.is_closing():
            protocol.connection_lost(None)


async def open_exec(
    daemon: Daemon,
    name: str,
    cmd: list[str],
    *,
    tty: bool = True,
    env: dict[str, str] | None = None,
    workdir: str | None = None,
) -> ExecStream:
    """Start cmd inside the sandbox and return its stdin/stdout as a hijacked, non-blocking stream."""
    try:
        # In the pool too: the first client() of a process for this engine asks it for its API version.
        created = await run_blocking(
            lambda: daemon.client().api.exec_create(name, cmd, stdin=True, tty=tty, environment=env, workdir=workdir)
        )
    except ENGINE_ERRORS as e:
        raise EngineError(f"could not start {cmd[0]} in {name}: {e}") from e
    exec_id = created["Id"]
    body = json.dumps({"Detach": False, "Tty": tty}).encode()
    reader, writer = await _hijack(daemon, f"/exec/{exec_id}/start", body, f"{cmd[0]} in {name}")
    return ExecStream(reader, writer, exec_id, tty, daemon)


@dataclass
class TtyStream(_Stdio):
    """A sandbox's own terminal (the tty of its PID 1), attached as a raw asyncio stream."""

    name: str
    daemon: Daemon

    async def resize(self, cols: int, rows: int) -> None:
        """Resize the sandbox's terminal; one that has stopped has no terminal left to resize."""
        try:
            await run_blocking(self.daemon.client().api.resize, self.name, height=rows, width=cols)
        except ENGINE_ERRORS as e:
            log.debug("resize of %s skipped: %s", self.name, e)


async def open_tty(daemon: Daemon, name: str) -> TtyStream:
    """Attach to the sandbox's own terminal: what is written reaches its shell, what it prints is read back."""
    # No logs=1: the engine keeps no log of the tty (see run_sandbox), and PWD's replay of it was its bug #557.
    # The engine swallows its detach keys (by default ^P^Q, holding back every ^P); none can be turned off, so
    # these are ones nobody types.
    query = "stream=1&stdin=1&stdout=1&stderr=1&detachKeys=ctrl-^,ctrl-@,ctrl-^"
    reader, writer = await _hijack(daemon, f"/containers/{name}/attach?{query}", b"", f"the terminal of {name}")
    return TtyStream(reader, writer, name, daemon)


async def _hijack(
    daemon: Daemon, path: str, body: bytes, what: str
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """POST to an engine endpoint that upgrades to a raw stream, and return that stream."""
    try:
        # The first client() of a process asks the engine for its API version: a blocking call.
        version = await run_blocking(lambda: daemon.client().api.api_version)
        reader, writer = await daemon.open_connection()
    except (*ENGINE_ERRORS, OSError) as e:
        raise EngineError(f"could not attach to {what}: {e}") from e
    head = (
        f"POST /v{version}{path} HTTP/1.1\r\nHost: docker\r\n"
        f"Content-Type: application/json\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    try:
        writer.write(head.encode() + body)
        await writer.drain()
        status = await reader.readline()
        while (await reader.readline()) not in (b"\r\n", b""):
            pass  # the remaining response headers
    except OSError as e:
        writer.close()
        raise EngineError(f"could not attach to {what}: {e}") from e
    if b" 101 " not in status and b" 200 " not in status:
        writer.close()
        raise EngineError(f"could not attach to {what}: {status.decode(errors='replace').strip()}")
    return reader, writer


async def wait_exit_code(stream: ExecStream, timeout: float = 2.0) -> int | None:
    """Return the exit code of a process whose output has ended; None when the engine cannot tell in time."""
    # The engine closes the output a moment before it records the exit code.
    deadline = time.monotonic() + timeout
    while True:
        try:
            code = await stream.exit_code()
        except ENGINE_ERRORS:
            return None
        if code is not None or time.monotonic() >= deadline:
            return code
        await asyncio.sleep(0.01)


class ExecOutput(asyncio.BufferedProtocol):
    """Receive an exec's output straight from its socket, each run of stdout or stderr bytes in one call.

    Subclasses implement output(). Compared with a stream reader this skips a task switch and several copies
    per chunk, which is most of what a proxy in Python spends per byte (see BENCHMARKS.md, SSH gateway).
    """

    def __init__(self, tty: bool) -> None:
        self.tty = tty
        self.transport: asyncio.Transport | None = None
        self.ended: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._frames = Frames()

    def output(self, kind: int, data: bytes) -> None:
        """Take the next bytes of stdout (kind 1, and all output of a tty) or of stderr (kind 2)."""
        raise NotImplementedError

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._frames.room()

    def buffer_updated(self, nbytes: int) -> None:
        self._frames.filled(nbytes)
        if self.tty:
            self.output(1, self._frames.take())
            return
        for kind, parts in self._frames.runs():
            self.output(kind, b"".join(parts))

    def eof_received(self) -> bool:
        self._end_output()
        return False  # closes the connection: the process has ended, there is nothing more to write to it

    def connection_lost(self, exc: Exception | None) -> None:
        self._end_output()

    def _end_output(self) -> None:
        if not self.ended.done():
            self.ended.set_result(None)
