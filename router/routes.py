"""Decide where a host name leads: only to a running instance of the very session the name carries."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from channels.db import database_sync_to_async

from engine.daemon import Daemon
from engine.tls import ENGINE_TLS_PORT
from router.hostnames import DirectName, Name
from sessions import engines
from sessions.models import Instance

HTTP_DEFAULT_PORT = 80
TLS_DEFAULT_PORT = 443


@dataclass(frozen=True)
class Target:
    ip: str
    port: int
    hostname: str
    # An instance of an engine whose addresses this host cannot reach: connected to from inside it (engine/relay).
    relay: tuple[Daemon, str] | None = None


def resolve(name: Name, tls: bool) -> Target | None:
    """Return the address a name leads to, or None unless it names a running instance of a live session."""
    # Never trust the name alone (PWD #555): the address must belong to the session the name carries.
    running = Instance.objects.reachable().select_related("session__engine")
    if isinstance(name, DirectName):
        instance = running.filter(ip=name.ip, session_id=name.session_id).first()
        default_port = TLS_DEFAULT_PORT if tls else HTTP_DEFAULT_PORT
        port = name.port or default_port
    else:
        # docker-machine's names carry only 40 bits of the session id: they lead nowhere but to the engine's
        # TLS port, where dockerd itself checks the client certificate.
        if not tls or name.port != ENGINE_TLS_PORT:
            return None
        # Eight characters of a 130-bit id rarely collide; when they do, the name is ambiguous: refuse it.
        matches = list(running.filter(alias=name.alias, session__id__startswith=name.session_prefix)[:2])
        instance = matches[0] if len(matches) == 1 else None
        port = name.port
    if instance is None or not instance.ip:
        return None
    engine = instance.session.engine
    if engine is not None and not engines.reachable_here(engine):
        # Its address may be another session's here (a remote engine's subnet is not ours): never connect to it.
        return Target(instance.ip, port, instance.hostname, relay=(engine.daemon, instance.name))
    return Target(instance.ip, port, instance.hostname)


Query = Callable[[Name, bool], Awaitable[Target | None]]


class Resolver:
    """Resolve names off the event loop: one query at a time per name, found routes remembered briefly."""

    def __init__(self, ttl: float = 2.0, size: int = 4096, query: Query | None = None) -> None:
        # Short, so a deleted instance or an ended session stops being reachable almost at once.
        self.ttl = ttl
        self.size = size
        self._found: dict[tuple[Name, bool], tuple[float, Target]] = {}
        self._asking: dict[tuple[Name, bool], asyncio.Future[Target | None]] = {}
        self._resolve: Query = query or database_sync_to_async(resolve, thread_sensitive=False)

    async def __call__(self, name: Name, tls: bool) -> Target | None:
        key = (name, tls)
        cached = self._found.get(key)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        # Many connections to one name arrive together (a page's assets, a load test): ask the database once.
        asking = self._asking.get(key)
        if asking is None:
            asking = self._asking[key] = asyncio.ensure_future(self._resolve(name, tls))
            asking.add_done_callback(lambda _: self._asking.pop(key, None))
        target = await asyncio.shield(asking)
        if target is not None:
            self._remember(key, target)
        return target

    def _remember(self, key: tuple[Name, bool], target: Target) -> None:
        now = time.monotonic()
        if len(self._found) >= self.size:
            self._found = {k: v for k, v in self._found.items() if v[0] > now}
            if len(self._found) >= self.size:
                self._found.clear()
        self._found[key] = (now + self.ttl, target)
