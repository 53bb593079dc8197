"""An instance's terminal, shared by its viewers: the sandbox's own tty, attached once per web process.

The shell is the sandbox's PID-1 login shell, as in PWD, so it outlives every WebSocket. One hub per instance
reads the tty, keeps the recent output (RECENT_BYTES, cut at a line start) and fans each frame out to the
viewers (windows and recent output: terminals/flow.py). A viewer that joins, or that falls behind, is sent the
recent output once (after clearing its screen) and then every frame from there on: each viewer's byte offset in
the tty's output says what it has, so nothing reaches it twice and nothing is skipped in between. Input from all
viewers is written in arrival order. The tty is sized to the smallest viewer, as in PWD. While anyone views it,
the hub also follows the instance's published ports (terminals/ports.py) and tells its viewers when they change,
and its CPU, memory and network use (terminals/stats.py), told every few seconds.

Flow control: a viewer that acknowledges frames has at most WINDOW_BYTES in flight; while one has a full
window the hub stops reading, the engine stops reading the tty, and the shell waits, so a flood costs
bounded memory. A viewer whose window stays full for STALL_SECONDS (a frozen tab) stops holding the others
back; it is sent the recent output when it acknowledges again. A viewer that never acknowledges (PWD's page)
is assumed to take UNACKNOWLEDGED_RATE, never holds the shell back, and skips to the recent output past that.

Recording: the hub of a session's instance also appends what it reads, and each size it sets, to the instance's
asciicast recording (terminals/recording.py), so the tty has one reader whether or not it is recorded.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import logging
from collections.abc import Awaitable, Callable

from django.conf import settings

import engine
import metrics
from engine import streams
from engine.daemon import Daemon
from sessions import recordings
from terminals import ports, stats
from terminals.flow import Recent, Window
from terminals.recording import Recorder

log = logging.getLogger(__name__)

FRAME_BYTES = 32 * 1024
PENDING_INPUT_BYTES = 64 * 1024
STALL_SECONDS = 5.0
RETRY_SECONDS = (0.5, 1, 2, 5)
STABLE_SECONDS = 5
DEFAULT_SIZE = (80, 24)
# Ports and use are followed this long after the last viewer leaves: a page reloaded, even in a loop, finds them known
# (unless the hub itself stops sooner: TERMINAL_LINGER, 900 s by default, 0 in tests).
PORTS_LINGER_SECONDS = 15.0
# Clear the screen and the scrollback before the recent output, so a reconnecting page does not show it twice.
CLEAR = "\x1b[H\x1b[2J\x1b[3J"

# send(event name, args) puts one PWD event on a viewer's WebSocket.
Send = Callable[[str, list[object]], Awaitable[None]]


class Viewer:
    """One WebSocket's view of an instance's terminal: what it has been sent, and how much more it can take."""

    def __init__(self, hub: Hub, send: Send, acknowledged: bool, size: tuple[int, int] | None) -> None:
        self.hub = hub
        self.size = size
        self._send = send
        self._window = Window(acknowledged)
        # Sent nothing until it can take more, then the recent output in place of the frames it missed.
        self._lagging = False
        # How many bytes of the tty's output this viewer has been sent; None until it is first sent any.
        self._offset: int | None = None
        self._sending = asyncio.Lock()
        self._resuming: asyncio.Task[None] | None = None

    async def write(self, data: str) -> None:
        """Type into the shared shell; input reaches it in the order written."""
        await self.hub.write(data.encode())

    async def resize(self, cols: int, rows: int) -> None:
        self.size = (cols, rows)
        await self.hub.apply_size()

    async def acknowledge(self, frames: int) -> None:
        self._window.acknowledge(frames)
        if self._lagging and self._window.is_open():
            self._lagging = False
            await self.catch_up()

    async def leave(self) -> None:
        await self.hub.leave(self)

    def holds_back(self) -> bool:
        """Tell whether the tty must wait for this viewer: it acknowledges, and its window is full."""
        return self._window.acknowledged and not self._lagging and not self._window.is_open()

    async def wait_for_room(self) -> None:
        """Wait until the viewer can take more; full for STALL_SECONDS (a frozen tab), it stops holding the tty."""
        left = self._window.full_since + STALL_SECONDS - self.hub.loop.time()
        if left <= 0:
            log.info("a viewer of %s stopped acknowledging; it is no longer waited for", self.hub.instance)
            self._lagging = True
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._window.wait_open(), left)

    async def tell(self, name: str, args: list[object]) -> bool:
        """Send the viewer an event; return False when its socket is gone, and the hub has dropped it."""
        try:
            await self._send(name, args)
        except Exception as e:  # noqa: BLE001
            # A socket closing under us raises whatever the server's WebSocket library raises (autobahn's
            # Disconnected under Daphne); that viewer is gone, and the others must not go with it.
            await self.hub.drop(self, e)
            return False
        return True

    async def deliver(self, start: int, text: str, size: int) -> None:
        """Send a frame of the tty's output that starts at byte `start`, unless the viewer is behind or has it."""
        if self._lagging:
            return
        if not self._window.is_open():
            self._fall_behind()
            return
        async with self._sending:
            if self._offset is not None and self._offset >= start + size:
                return  # the recent output it was sent already held this frame
            if self._offset == start:
                self._offset = start + size
                if text:
                    await self._out(text, size)
                return
        await self.catch_up()

    async def catch_up(self) -> None:
        """Send the recent output, once, in place of whatever the viewer has missed."""
        recent = self.hub.recent
        async with self._sending:
            if self._offset == recent.total:
                return
            text, self._offset = recent.text(), recent.total
            if text:
                await self._out(CLEAR + text, len(text.encode()))

    def release(self) -> None:
        """Stop holding the tty back (the viewer has left)."""
        self._window.release()

    def _fall_behind(self) -> None:
        """Send nothing until the viewer can take more; then send it the recent output."""
        self._lagging = True
        if not self._window.acknowledged:  # one that acknowledges resumes when it acknowledges
            self.hub.loop.call_later(self._window.seconds_to_open(), self._resume)

    def _resume(self) -> None:
        if self in self.hub.viewers and self._lagging:
            self._lagging = False
            # Kept, as the loop keeps only a weak reference to a task.
            self._resuming = asyncio.create_task(self.catch_up())

    async def _out(self, text: str, size: int) -> None:
        self._window.sent(size)
        await self.tell("instance terminal out", [self.hub.instance, text])


class Hub:
    """Attach to one instance's tty, and share it between viewers."""

    def __init__(self, daemon: Daemon, instance: str, recent: Recent, recorder: Recorder | None = None) -> None:
        self.daemon = daemon
        self.instance = instance
        self.recent = recent
        self.recorder = recorder
        self.viewers: list[Viewer] = []
        self.loop = asyncio.get_running_loop()
        self._stream: streams.TtyStream | None = None
        self._size: tuple[int, int] | None = None
        self._sizing = asyncio.Lock()
        self._pending: list[bytes] = []
        self._pending_full = False
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._closing = False
        self._linger: asyncio.TimerHandle | None = None
        # The instance's published ports, once known; followed while someone views the instance, and a little after.
        self.ports: list[int] | None = None
        # The instance's last `instance stats`, likewise.
        self.stats: dict[str, object] | None = None
        self._following: asyncio.Task[None] | None = None
        self._unfollow_later: asyncio.TimerHandle | None = None
        self._unfollowing: set[asyncio.Task[None]] = set()
        self._task = asyncio.create_task(self._run())

    @property
    def closed(self) -> bool:
        """Tell whether the hub has stopped or is stopping: a new viewer needs a new hub."""
        return self._closing or self._task.done()

    async def join(self, send: Send, *, acknowledged: bool, size: tuple[int, int] | None) -> Viewer:
        """Add a viewer; once attached it is sent the status, the recent output, and every frame after that."""
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None
        viewer = Viewer(self, send, acknowledged, size)
        self.viewers.append(viewer)
        metrics.OPEN_TERMINALS.inc()
        if self._unfollow_later is not None:
            self._unfollow_later.cancel()
            self._unfollow_later = None
        if self._following is None:
            self._following = asyncio.create_task(self._follow())
        if self._stream is not None:
            await self._tell(viewer, "connect")
            await self.apply_size()
        if self.ports is not None:
            await self._send_ports(viewer, self.ports)
        if self.stats is not None:
            await viewer.tell("instance stats", [self.stats])
        return viewer

    async def leave(self, viewer: Viewer) -> None:
        """Remove a viewer; the last one out stops the hub, after TERMINAL_LINGER seconds."""
        if viewer not in self.viewers:
            return
        self._remove(viewer)
        if self.viewers:
            await self.apply_size()
        elif settings.TERMINAL_LINGER <= 0:
            await self.close()

    def _remove(self, viewer: Viewer) -> None:
        self.viewers.remove(viewer)
        metrics.OPEN_TERMINALS.dec()
        viewer.release()
        if not self.viewers:
            self._unfollow_later = self.loop.call_later(PORTS_LINGER_SECONDS, self._unfollow)
        if not self.viewers and settings.TERMINAL_LINGER > 0:
            # Keep reading a while, so what the shell prints while the page reloads is in the recent output.
            self._linger = self.loop.call_later(settings.TERMINAL_LINGER, self._stop)

    async def write(self, data: bytes) -> None:
        """Write input to the tty, or keep it (in order, up to PENDING_INPUT_BYTES) until the tty is attached."""
        stream = self._stream
        if stream is None:
            # Past the limit everything is dropped, never just a large paste in the middle of what was typed.
            self._pending_full |= sum(map(len, self._pending)) + len(data) > PENDING_INPUT_BYTES
            if not self._pending_full:
                self._pending.append(data)
            return
        try:
            stream.write(data)
            # A shell that does not read its input backs typing up into the viewer's socket.
            await stream.drain()
        except (ConnectionError, RuntimeError) as e:
            log.info("input to %s lost with its terminal: %s", self.instance, e)

    async def apply_size(self) -> None:
        """Size the tty to the smallest viewer."""
        # One resize at a time, each for the latest sizes: two in flight could land in either order.
        async with self._sizing:
            size = self._smallest()
            if self._stream is not None and size != self._size:
                self._size = size
                await self._stream.resize(*size)
                if self.recorder is not None:
                    self.recorder.resize(*size)

    def _smallest(self) -> tuple[int, int]:
        sizes = [v.size for v in self.viewers if v.size is not None]
        if not sizes:
            return self._size or DEFAULT_SIZE
        return min(c for c, _ in sizes), min(r for _, r in sizes)

    async def close(self) -> None:
        self._closing = True
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    def _stop(self) -> None:
        if not self.viewers and not self._task.done():
            self._closing = True
            self._task.cancel()

    async def _run(self) -> None:
        """Follow the instance's tty; the hub ends when this does, and following its ports with it."""
        try:
            await self._attach_while_viewed()
        finally:
            if self.recorder is not None:
                self.recorder.close()
            self._unfollow()
            # Event streams are closed before the hub counts as stopped.
            await asyncio.gather(*self._unfollowing, return_exceptions=True)

    async def _follow(self) -> None:
        """Follow the instance's ports and its use, until cancelled (nobody views it)."""
        async with asyncio.TaskGroup() as group:
            group.create_task(ports.follow(self.instance, self._tell_ports))
            group.create_task(stats.follow(self.daemon, self.instance, self._tell_stats))

    def _unfollow(self) -> None:
        """Stop following the instance's ports and use (nobody views it)."""
        if self._unfollow_later is not None:
            self._unfollow_later.cancel()
            self._unfollow_later = None
        following, self._following, self.ports, self.stats = self._following, None, None, None
        if following is not None:
            following.cancel()
            self._unfollowing.add(following)
            following.add_done_callback(self._unfollowing.discard)

    async def _attach_while_viewed(self) -> None:
        """Attach, pump until the tty ends, attach again while anyone watches; back off while that fails."""
        failures, status = 0, "connect"
        while True:
            attached_at = self.loop.time()
            try:
                stream = await streams.open_tty(self.daemon, self.instance)
                try:
                    await self._attached(stream, status)
                    await self._pump(stream)
                finally:
                    self._stream = None
                    stream.close()
                status = "reconnect"
            except (engine.EngineError, OSError) as e:
                log.info("the terminal of %s is unavailable: %s", self.instance, e)
            # A tty that lasted is simply attached again; one that ends at once (a stopped sandbox) slowly.
            if self.loop.time() - attached_at > STABLE_SECONDS:
                failures = 0
            if not self.viewers:
                # Its tty has ended and nobody is waiting for it: the sandbox has stopped or gone.
                forget_now(self.instance, self)
                return
            await asyncio.sleep(RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)])
            failures += 1

    async def _attached(self, stream: streams.TtyStream, status: str) -> None:
        self._decoder.reset()
        # The size changes back and forth, so the program on the tty gets SIGWINCH and redraws: the shell its
        # prompt (and a fresh sandbox's shell, which waits for a size, starts); vim or top their whole screen.
        async with self._sizing:
            cols, rows = self._size = self._smallest()
            await stream.resize(cols, rows - 1 if rows > 1 else rows + 1)
            await stream.resize(cols, rows)
            if self.recorder is not None:
                self.recorder.resize(cols, rows)
        # From here on viewers that join are served by join(); the ones already here are served below.
        self._stream = stream
        for data in self._pending:
            stream.write(data)
        self._pending.clear()
        self._pending_full = False
        for viewer in list(self.viewers):
            if viewer in self.viewers:
                await self._tell(viewer, status)
        await self.apply_size()

    async def _tell(self, viewer: Viewer, status: str) -> None:
        """Send a viewer the terminal's status, then the recent output."""
        if await viewer.tell("instance terminal status", [self.instance, status]):
            await viewer.catch_up()

    async def _tell_ports(self, published: list[int]) -> None:
        """Send every viewer the instance's published ports, when they changed."""
        if published != self.ports:
            self.ports = published
            for viewer in list(self.viewers):
                if viewer in self.viewers:  # not dropped meanwhile
                    await self._send_ports(viewer, published)

    async def _send_ports(self, viewer: Viewer, published: list[int]) -> None:
        await viewer.tell("instance docker ports", [{"instance": self.instance, "ports": published}])

    async def _tell_stats(self, use: dict[str, object]) -> None:
        """Send every viewer the instance's use."""
        self.stats = use
        for viewer in list(self.viewers):
            if viewer in self.viewers:  # not dropped meanwhile
                await viewer.tell("instance stats", [use])

    async def _pump(self, stream: streams.TtyStream) -> None:
        while True:
            await self._viewers_ready()
            data = await stream.read(FRAME_BYTES)
            if not data:
                return
            start = self.recent.total
            self.recent.append(data)
            text = self._decoder.decode(data)
            if self.recorder is not None:
                self.recorder.output(text)
            for viewer in list(self.viewers):
                if viewer in self.viewers:  # not dropped meanwhile
                    await viewer.deliver(start, text, len(data))

    async def _viewers_ready(self) -> None:
        """Wait while a viewer that acknowledges has a full window, unless it has been full for STALL_SECONDS."""
        while True:
            held = next((v for v in self.viewers if v.holds_back()), None)
            if held is None:
                return
            await held.wait_for_room()

    async def drop(self, viewer: Viewer, error: Exception) -> None:
        """Remove a viewer whose socket is gone."""
        log.info("a viewer of %s is gone: %r", self.instance, error)
        if viewer in self.viewers:
            self._remove(viewer)
            if self.viewers:
                await self.apply_size()
            elif settings.TERMINAL_LINGER <= 0:
                self._stop()


# instance name -> its hub in this process; the recent output outlives a hub that stopped for lack of viewers.
_hubs: dict[str, Hub] = {}
_recent: dict[str, Recent] = {}


async def join(
    daemon: Daemon,
    instance: str,
    send: Send,
    *,
    acknowledged: bool,
    size: tuple[int, int] | None,
    session: str | None = None,
) -> Viewer:
    """Start viewing an instance's terminal; a hub started for a viewer of its session records it."""
    hub = _hubs.get(instance)
    if hub is None or hub.closed or hub.loop is not asyncio.get_running_loop():
        recorder = None
        room = recordings.room(session, instance) if session is not None and settings.TERMINAL_RECORDING else 0
        if session is not None and room > 0:
            recorder = Recorder(recordings.path(session, instance), room)
        hub = _hubs[instance] = Hub(daemon, instance, _recent.setdefault(instance, Recent()), recorder)
    return await hub.join(send, acknowledged=acknowledged, size=size)


async def forget(instance: str) -> None:
    """Drop an instance that is gone: its hub and its recent output."""
    hub = _hubs.get(instance)
    forget_now(instance)
    if hub is not None and hub.loop is asyncio.get_running_loop():
        await hub.close()


def forget_now(instance: str, hub: Hub | None = None) -> None:
    """Drop the instance's hub (only if it is still `hub`, when given) and its recent output."""
    if hub is None or _hubs.get(instance) is hub:
        _hubs.pop(instance, None)
        _recent.pop(instance, None)
        ports.forget(instance)
