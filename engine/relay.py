"""A TCP connection to a port of a sandbox, made from inside the sandbox through its engine's API.

For an engine on another host: this host cannot route to its sandboxes' addresses, and one of them may even be
the address of a sandbox here (two hosts' engines may hand out the same session subnet). So the router and ssh
port forwarding reach such an instance's ports as `kubectl port-forward` reaches a pod's: a process inside it
(busybox's nc, from the sandbox image) connects to the port there, its stdin and stdout carried over the same
connection to the engine as a terminal's. What the instance sends is relayed as it would be from its address;
the learner may replace that nc, and then breaks only the relay of their own ports.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets
from collections import Counter
from collections.abc import Callable
from typing import TypeVar

from engine import EngineError, give
from engine.daemon import Daemon
from engine.streams import ExecOutput, ExecStream, open_exec

log = logging.getLogger(__name__)

RELAY = ["busybox", "nc"]
# What nc says on stderr (it could not connect, say) is kept for the log, up to this much. More is not nc's
# words but a replaced nc's flood: nothing slows it (no reader is waiting for it) and none of it counts where
# bytes are counted (engine/inner), so the relay is cut there.
STDERR_LIMIT = 1024

# Connections relayed into one instance at once, per process: each is a process there and an exec on its engine,
# so a visitor opening connections without end costs that engine no more than this.
RELAYS_PER_INSTANCE = 32
_open: Counter[tuple[str, str]] = Counter()

# A relay ended from this side (the visitor hung up, the platform closed it, it was cut) leaves its nc running:
# the engine only ends its stdin, and nc, half-closed, waits for the port to end its side, which a stream or an
# idle server never does. Each relay's process is marked in its environment with a name of its own, and killed by
# that mark inside the instance (this host may not see a remote engine's processes) before its place is free.
MARK = "PLAYGROUND_RELAY"
KILL = (
    'for f in $(grep -lxzF -- "$1" /proc/[0-9]*/environ 2>/dev/null); do p=${f#/proc/}; kill -9 "${p%/environ}"; done'
)
KILL_TIMEOUT = 5.0
KILL_OUTPUT_LIMIT = 4096
_killing: set[asyncio.Task[None]] = set()

_P = TypeVar("_P", bound=asyncio.BaseProtocol)


class Busy(EngineError):
    """As many connections to the instance as a relay takes are open already."""


async def connect(
    protocol_factory: Callable[[], _P], ip: str, port: int, relay_from: tuple[Daemon, str] | None
) -> tuple[asyncio.Transport, _P]:
    """Connect to ip:port of an instance: from inside it when relay_from (its engine and name) is given, else from here.

    Raise OSError when nothing answers there, and when relayed what create_connection raises (Busy, EngineError).
    """
    if relay_from is None:
        return await asyncio.get_running_loop().create_connection(protocol_factory, ip, port)
    return await create_connection(*relay_from, protocol_factory, ip, port)


async def create_connection(
    daemon: Daemon, name: str, protocol_factory: Callable[[], _P], ip: str, port: int
) -> tuple[asyncio.Transport, _P]:
    """Connect to ip:port from inside the sandbox name, as loop.create_connection would from here.

    The protocol gets what the port sends, its end, and the connection's loss, from the loop's next turn on
    (what came sooner is held until then); what it writes reaches the port, and write_eof() ends that direction
    (nc then ends its side of the TCP connection). Raise Busy past RELAYS_PER_INSTANCE, EngineError when the
    engine cannot start the relay; a port where nothing listens is a connection that ends at once.
    """
    key = (daemon.url, name)
    if _open[key] >= RELAYS_PER_INSTANCE:
        raise Busy(f"{RELAYS_PER_INSTANCE} connections to {name} are open already")
    _open[key] += 1
    mark = secrets.token_hex(8)
    try:
        stream = await open_exec(daemon, name, [*RELAY, ip, str(port)], tty=False, env={MARK: mark})
    except BaseException:
        _end(daemon, name, mark, key)  # (cut short, the engine may have started it)
        raise
    relayed: _Relayed | None = None
    try:
        protocol = protocol_factory()
        relayed = _Relayed(protocol, f"{ip}:{port} in {name}", key, daemon, name, mark)
        # Kept as long as the connection: a stream writer that is collected closes its transport.
        relayed.stream = stream
        await stream.pipe_output(relayed)
    except BaseException:
        stream.close()
        if relayed is None or relayed.key is not None:  # (else its loss released it already)
            if relayed is not None:
                relayed.key = None
            _end(daemon, name, mark, key)
        raise
    assert relayed.transport is not None
    # The bytes that came with the engine's answer (a server that speaks first: sshd, SMTP) are held until the
    # caller has run on and wired its protocol to the other side, as loop.create_connection's would be.
    asyncio.get_running_loop().call_soon(relayed.hand_over)
    return relayed.transport, protocol


def _release(key: tuple[str, str]) -> None:
    _open[key] -= 1
    if _open[key] <= 0:
        del _open[key]


def _end(daemon: Daemon, name: str, mark: str, key: tuple[str, str]) -> None:
    """Kill the process of a relay ended from this side, then free its place (see MARK)."""

    async def kill() -> None:
        # Streamed, not exec_run in the engine pool: a learner's grep that dawdles holds no thread of this process.
        try:
            async with asyncio.timeout(KILL_TIMEOUT):
                stream = await open_exec(daemon, name, ["sh", "-c", KILL, "sh", f"{MARK}={mark}"], tty=False)
                try:
                    printed = 0
                    while printed < KILL_OUTPUT_LIMIT and (data := await stream.read(KILL_OUTPUT_LIMIT)):
                        printed += len(data)
                finally:
                    stream.close()
        except (TimeoutError, OSError, EngineError) as e:
            log.info("the relay %s in %s not killed: %s", mark, name, str(e) or type(e).__name__)
        finally:
            _release(key)

    task = asyncio.get_running_loop().create_task(kill())
    _killing.add(task)
    task.add_done_callback(_killing.discard)


class _Relayed(ExecOutput):
    """The exec's output, unframed for protocol: stdout is the port's bytes, stderr is nc's own words."""

    def __init__(
        self, protocol: asyncio.BaseProtocol, where: str, key: tuple[str, str], daemon: Daemon, name: str, mark: str
    ) -> None:
        super().__init__(tty=False)
        self.protocol = protocol
        self.daemon, self.name, self.mark = daemon, name, mark
        self.finished = False  # the process ended its output
        self.where = where
        self.key: tuple[str, str] | None = key
        self.stderr = b""
        self.stream: ExecStream | None = None
        self.cut = False
        self.lost = False
        self.held: list[Callable[[], object]] | None = []

    def hand_over(self) -> None:
        """Tell the protocol, in order, what came before its caller had it, and from now on tell it at once."""
        held, self.held = self.held or [], None
        for event in held:
            event()

    def _tell(self, event: Callable[..., object], *args: object) -> None:
        # Per read of the port's bytes: nothing is made for the call once the caller has had its protocol.
        if self.held is None:
            event(*args)
        else:
            self.held.append(functools.partial(event, *args))

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.protocol.connection_made(transport)

    def output(self, kind: int, data: bytes) -> None:
        if self.cut:
            return  # (the rest of a read that brought the cut)
        if kind == 1:
            self._tell(give, self.protocol, data)
            return
        self.stderr += data[: STDERR_LIMIT + 1 - len(self.stderr)]
        if len(self.stderr) > STDERR_LIMIT:
            self.cut = True
            log.info("the relay to %s cut: more than %d bytes on stderr", self.where, STDERR_LIMIT)
            assert self.transport is not None
            self.transport.abort()

    def eof_received(self) -> bool:
        super().eof_received()
        self.finished = True
        if self.stderr:
            log.info("the relay to %s: %s", self.where, self.stderr.decode(errors="replace").strip())
        self._tell(self.protocol.eof_received)  # type: ignore[attr-defined]
        # The process ended its output (nc's connection ended): what is written now reaches nobody. The relay
        # ends, and its count with it, whether or not the other side keeps its half open: a visitor that never
        # hangs up would otherwise hold one of the instance's relays for ever.
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if self.key is not None:
            if self.finished:
                _release(self.key)
            else:
                _end(self.daemon, self.name, self.mark, self.key)
            self.key = None
        if not self.lost:  # (pipe_output reports a loss it found; the transport may report it again)
            self.lost = True
            self._tell(self.protocol.connection_lost, exc)

    def pause_writing(self) -> None:
        self.protocol.pause_writing()

    def resume_writing(self) -> None:
        self.protocol.resume_writing()
