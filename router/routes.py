"""Decide where a host name leads: only to a running instance of the very session the name carries."""

from __future__ import annotations

import time
from dataclasses import dataclass

from channels.db import database_sync_to_async

from router.hostnames import DirectName, Name
from sessions.models import Instance, Session

HTTP_DEFAULT_PORT = 80
TLS_DEFAULT_PORT = 443


@dataclass(frozen=True)
class Target:
    ip: str
    port: int
    hostname: str


def resolve(name: Name, tls: bool) -> Target | None:
    """Return the address a name leads to, or None unless it names a running instance of a live session."""
    # Never trust the name alone (PWD #555): the address must belong to the session the name carries.
    running = Instance.objects.filter(state=Instance.State.RUNNING, session__state=Session.State.ACTIVE)
    if isinstance(name, DirectName):
        instance = running.filter(ip=name.ip, session_id=name.session_id).first()
        default_port = TLS_DEFAULT_PORT if tls else HTTP_DEFAULT_PORT
        port = name.port or default_port
    else:
        # Eight characters of a 130-bit id rarely collide; when they do, the name is ambiguous: refuse it.
        matches = list(running.filter(alias=name.alias, session__id__startswith=name.session_prefix)[:2])
        instance = matches[0] if len(matches) == 1 else None
        port = name.port
    if instance is None or not instance.ip:
        return None
    return Target(instance.ip, port, instance.hostname)


class Resolver:
    """Resolve names off the event loop, remembering found routes for a few seconds."""

    def __init__(self, ttl: float = 2.0, size: int = 4096) -> None:
        # Short, so a deleted instance or an ended session stops being reachable almost at once.
        self.ttl = ttl
        self.size = size
        self._found: dict[tuple[Name, bool], tuple[float, Target]] = {}
        self._resolve = database_sync_to_async(resolve, thread_sensitive=False)

    async def __call__(self, name: Name, tls: bool) -> Target | None:
        now = time.monotonic()
        cached = self._found.get((name, tls))
        if cached and cached[0] > now:
            return cached[1]
        target = await self._resolve(name, tls)
        if target is not None:
            if len(self._found) >= self.size:
                self._found = {k: v for k, v in self._found.items() if v[0] > now}
                if len(self._found) >= self.size:
                    self._found.clear()
            self._found[(name, tls)] = (now + self.ttl, target)
        return target
