"""A terminal's output recorded as asciicast v2, written by its hub as it reads the tty (terminals/hub.py).

One file per instance (sessions/recordings.py), appended to by the hub that holds an exclusive flock on it.
Another web process whose viewers watch the same instance reads the same output from its own attachment and
would write every frame twice (or interleave half lines): it records nothing while the lock is held, and tries
again every LOCK_RETRY_SECONDS, so it takes over when the first hub stops. A hub that starts again (its linger
ran out and the page came back) appends to the same file, timed from the header, so one file spans the session.

Writing never holds the terminal up: events are kept in memory and appended with one write of whole lines once
FLUSH_BYTES are waiting, or FLUSH_SECONDS after the first one. Such a write lands in the page cache: measured
here, a 64 KiB append takes 15–50 µs, and encoding a full 32 KiB frame of short lines as JSON about 300 µs. A
flood costs that only until RECORDING_MAX_BYTES are on disk: there the recording ends with a marker and is
never written to again, and memory holds at most FLUSH_BYTES and one event.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import time
from pathlib import Path

log = logging.getLogger(__name__)

FLUSH_BYTES = 64 * 1024
FLUSH_SECONDS = 0.5
LOCK_RETRY_SECONDS = 5.0
# The last event of a recording cut at RECORDING_MAX_BYTES; a hub that finds it at the end writes nothing more.
FULL = "recording stopped: it reached its size limit"
_FULL_LINE_END = f'"m", {json.dumps(FULL)}]\n'.encode()


class Recorder:
    """Append a terminal's output and size changes to its asciicast v2 file, up to `limit` bytes."""

    def __init__(self, path: Path, limit: int) -> None:
        self.path = path
        self.limit = limit
        self.size = (80, 24)
        self._fd: int | None = None
        self._started = 0  # the header's timestamp: event times count from it
        self._last = 0.0
        self._written = 0  # the file's length, with what is buffered
        self._buffer = bytearray()
        self._flushing: asyncio.TimerHandle | None = None
        self._retry_at = 0.0
        self._first = True
        self.done = False

    def output(self, text: str) -> None:
        """Record output the terminal printed."""
        if text and self._ready():
            self._add("o", text)

    def resize(self, cols: int, rows: int) -> None:
        """Record the terminal's new size."""
        changed, self.size = (cols, rows) != self.size, (cols, rows)
        if self._fd is None:
            self._ready()  # a new file's header, or an "r" event in one continued, holds the size
        elif changed:
            self._add("r", f"{cols}x{rows}")

    def close(self) -> None:
        """Write what is buffered and release the file."""
        self.flush()
        self._release()

    def flush(self) -> None:
        """Append the buffered events to the file."""
        if self._flushing is not None:
            self._flushing.cancel()
            self._flushing = None
        if self._fd is None or not self._buffer:
            return
        data, self._buffer = bytes(self._buffer), bytearray()
        try:
            os.write(self._fd, data)
        except OSError as e:
            log.warning("recording %s stopped: %s", self.path, e)
            self._stop()

    def _ready(self) -> bool:
        """Tell whether events can be recorded now: the file is open and locked, and not full."""
        if self.done:
            return False
        if self._fd is None and time.monotonic() >= self._retry_at:
            self._retry_at = time.monotonic() + LOCK_RETRY_SECONDS
            self._open()
        return self._fd is not None

    def _open(self) -> None:
        first, self._first = self._first, False
        try:
            if first:  # never again: the session's removal must not be undone by a retry (sessions/recordings.py)
                self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as e:
            log.warning("cannot record the terminal into %s: %s", self.path, e)
            self.done = True
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)  # another hub records this terminal
            return
        self._fd = fd
        self._written = os.fstat(fd).st_size
        if self._written == 0:
            self._started = int(time.time())
            header = {"version": 2, "width": self.size[0], "height": self.size[1], "timestamp": self._started}
            self._buffer += json.dumps(header).encode() + b"\n"
            self._written += len(self._buffer)
            return
        self._resume(fd)

    def _resume(self, fd: int) -> None:
        """Continue a recording another hub began: from its header's time, at the size the terminal has now."""
        with open(fd, "rb", closefd=False) as file:
            header = file.readline(4096)
            file.seek(max(0, self._written - len(_FULL_LINE_END)))
            tail = file.read()
        try:
            self._started = int(json.loads(header)["timestamp"])
        except (ValueError, KeyError, TypeError):
            log.warning("not recording into %s: its header is not asciicast", self.path)
            self._stop()
            return
        if tail == _FULL_LINE_END or self._written >= self.limit:
            self._stop()
            return
        self._add("r", f"{self.size[0]}x{self.size[1]}")

    def _add(self, kind: str, data: str) -> None:
        # Never before an event already written: the wall clock may step back.
        self._last = max(self._last, time.time() - self._started)
        line = f"[{self._last:.6f}, {json.dumps(kind)}, {json.dumps(data, ensure_ascii=False)}]\n".encode()
        if self._written + len(line) > self.limit:
            line = f"[{self._last:.6f}, {json.dumps('m')}, {json.dumps(FULL)}]\n".encode()
            self._buffer += line
            self.flush()
            self._stop()
            return
        self._buffer += line
        self._written += len(line)
        if len(self._buffer) >= FLUSH_BYTES:
            self.flush()
        elif self._flushing is None:
            self._flushing = asyncio.get_running_loop().call_later(FLUSH_SECONDS, self.flush)

    def _stop(self) -> None:
        """Record nothing more, ever, from this hub."""
        self.done = True
        self._buffer.clear()
        self._release()

    def _release(self) -> None:
        if self._flushing is not None:
            self._flushing.cancel()
            self._flushing = None
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)  # releases the lock
