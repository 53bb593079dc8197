"""Forward ssh -L / -W connections to a port of the instance."""

from __future__ import annotations

import asyncio

import asyncssh

from engine import EngineError, relay
from engine.daemon import Daemon

# A connection not made by then is given up: a port whose packets a learner drops would otherwise hold the
# channel for the kernel's SYN retries (about two minutes); a relayed one (engine/relay) also frees its place.
CONNECT_TIMEOUT = 10.0


class _ChannelSide(asyncssh.SSHForwarder):
    """The ssh channel's end of a forwarded connection, closing it once both directions have ended."""

    def eof_received(self) -> bool:
        # asyncssh keeps the pair open when the instance's side ended first and the client's EOF comes second;
        # without this close, `ssh -W` would wait forever.
        keep_open = super().eof_received()
        if not keep_open:
            self.close()
        return keep_open


async def open_tunnel(ip: str, port: int, relay_from: tuple[Daemon, str] | None = None) -> asyncssh.SSHForwarder:
    """Connect to ip:port (from inside the instance relay_from names, when given) and return the session that
    joins it to the ssh channel."""
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT):
            _, tcp_side = await relay.connect(asyncssh.SSHForwarder, ip, port, relay_from)
    except relay.Busy as e:
        raise asyncssh.ChannelOpenError(asyncssh.OPEN_RESOURCE_SHORTAGE, str(e)) from None
    except (OSError, EngineError):  # (a TimeoutError is an OSError)
        raise asyncssh.ChannelOpenError(asyncssh.OPEN_CONNECT_FAILED, f"nothing answers on {ip} port {port}") from None
    return _ChannelSide(tcp_side)
