"""Flow control for a terminal's viewers, and the recent output a joining or lagging viewer is sent.

A viewer that acknowledges frames has at most WINDOW_BYTES in flight; one that never does (PWD's page) is assumed
to take UNACKNOWLEDGED_RATE. The hub (terminals/hub.py) keeps one Window per viewer and one Recent per instance.
"""

from __future__ import annotations

import asyncio
import codecs
from collections import deque

WINDOW_BYTES = 256 * 1024
RECENT_BYTES = 64 * 1024
UNACKNOWLEDGED_RATE = 1024 * 1024  # bytes per second


class Window:
    """Count output bytes sent but not yet taken by the viewer; closed while too many are.

    A viewer that acknowledges frames takes them when it says so. One that never does (PWD's page) is assumed
    to take UNACKNOWLEDGED_RATE bytes per second, so a slow one cannot make the server buffer without bound.
    """

    def __init__(self, acknowledged: bool) -> None:
        self.acknowledged = acknowledged
        self.full_since = 0.0
        self._frames: deque[int] = deque()
        # In flight when last counted, at _counted_at; one that does not acknowledge has taken more since.
        self._bytes = 0.0
        self._counted_at = 0.0
        self._open = asyncio.Event()
        self._open.set()

    def in_flight(self) -> float:
        """Return how many of the bytes sent the viewer has not taken yet."""
        return self._in_flight(asyncio.get_running_loop().time())

    def is_open(self) -> bool:
        if self.acknowledged:
            return self._open.is_set()
        return self.in_flight() < WINDOW_BYTES

    def sent(self, size: int) -> None:
        now = asyncio.get_running_loop().time()
        if not self.acknowledged:
            self._bytes, self._counted_at = self._in_flight(now) + size, now
            return
        self._frames.append(size)
        self._bytes += size
        if self._bytes >= WINDOW_BYTES and self._open.is_set():
            self._open.clear()
            self.full_since = now

    def acknowledge(self, frames: int) -> None:
        if not self.acknowledged:
            return
        for _ in range(min(frames, len(self._frames))):
            self._bytes -= self._frames.popleft()
        if self._bytes < WINDOW_BYTES:
            self._open.set()

    def seconds_to_open(self) -> float:
        """Return how long until a viewer that does not acknowledge has taken enough to be sent more."""
        return max(0.0, (self.in_flight() - WINDOW_BYTES) / UNACKNOWLEDGED_RATE) + 0.01

    def release(self) -> None:
        """Stop holding anyone back (the viewer has left)."""
        self._open.set()

    async def wait_open(self) -> None:
        await self._open.wait()

    def _in_flight(self, now: float) -> float:
        if self.acknowledged:
            return self._bytes
        return max(0.0, self._bytes - (now - self._counted_at) * UNACKNOWLEDGED_RATE)


class Recent:
    """The last RECENT_BYTES or so of a tty's output, starting at a line, and how many bytes came in all."""

    def __init__(self) -> None:
        self.total = 0
        self._data = bytearray()

    def append(self, data: bytes) -> None:
        self.total += len(data)
        self._data += data
        # Trim rarely (at twice the size), so appending stays cheap during a flood.
        if len(self._data) > 2 * RECENT_BYTES:
            del self._data[: self._start()]

    def text(self) -> str:
        """Return the recent output as text; a character still incomplete at the end is left to the next frame."""
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        return decoder.decode(bytes(self._data[self._start() :]))

    def _start(self) -> int:
        cut = max(0, len(self._data) - RECENT_BYTES)
        if cut == 0:
            return 0
        line = self._data.find(b"\n", cut)
        return line + 1 if line >= 0 else cut
