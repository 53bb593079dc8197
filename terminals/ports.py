"""Follow the ports an instance publishes while someone views it (and a little after); nothing polls.

The instance's engine is asked for its containers and services once, then again after each burst on its event
stream. It is the learner's engine: it may answer slowly, with garbage or not at all, which only ever delays the
badges of that instance (every call has a deadline and a cap, see engine/inner.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from channels.db import database_sync_to_async
from django.conf import settings

from engine import inner
from sessions import engines
from sessions.models import ClientBundle, Instance

log = logging.getLogger(__name__)

# Events come in bursts (a compose file starting ten containers): look once the burst has passed. An engine
# that keeps ringing without its ports changing is looked at ever less often, up to every GAP_SECONDS[-1] (so a
# badge still comes within 5 s); one whose ports changed at the last look, or that was quiet, is back to the first.
GAP_SECONDS = (0.5, 1, 2, 4)
QUIET_SECONDS = 10
RETRY_SECONDS = (1, 2, 5, 10)
# A stream that lasted this long was a working engine: the next failure starts the back-off again.
STABLE_SECONDS = 30
# Instance name -> when following it may start next (loop time), and how often it has failed in a row.
_next_start: dict[str, float] = {}
_failures: dict[str, int] = {}
# Instance name -> what its engine was built from, and the engine.
_engines: dict[str, tuple[tuple[object, ...], inner.InstanceEngine]] = {}


@database_sync_to_async
def instance_engine(name: str) -> inner.InstanceEngine | None:
    """Return how to reach a running instance's engine, or None when it is gone (or from before client bundles)."""
    instance = (
        Instance.objects.filter(name=name, state=Instance.State.RUNNING).select_related("session__engine").first()
    )
    bundle = ClientBundle.objects.filter(instance=instance).first() if instance is not None else None
    if instance is None or not instance.ip or bundle is None:
        return None
    how = (instance.ip, bundle.ca_cert, bundle.client_cert, bundle.client_key, instance.tls_server_cert)
    # An instance of another host's engine: its address may be a sandbox's here; asked from inside it instead.
    engine = instance.session.engine
    relay_from = None if engine is None or engines.reachable_here(engine) else (engine.daemon, instance.name)
    # Building an engine's TLS context parses certificates and a key: once per instance, not at every follow.
    known = _engines.get(name)
    if known is None or known[0] != (*how, relay_from):
        known = _engines[name] = ((*how, relay_from), inner.InstanceEngine(*how, relay_from=relay_from))
    return known[1]


async def follow(instance: str, tell: Callable[[list[int]], Awaitable[None]]) -> None:
    """Tell the instance's published ports now and after every change, until cancelled or the instance is gone."""
    loop = asyncio.get_running_loop()
    # Started again by each page that opens, the back-off must outlive this task: a page reloaded in a loop
    # would otherwise make the engine be asked at once, every time.
    failures = _failures.get(instance, 0)
    await asyncio.sleep(max(0.0, _next_start.get(instance, 0.0) - loop.time()))
    while True:
        started = loop.time()
        _next_start[instance] = started + RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)]
        try:
            engine = await instance_engine(instance)
            if engine is None:
                return
            await follow_engine(engine, tell)
        except inner.Unanswered as e:
            log.info("cannot follow the ports of %s: %s", instance, e)
        except Exception:
            # The database or the platform's certificate files, say: the badges must not stop for good.
            log.exception("following the ports of %s failed", instance)
        if loop.time() - started > STABLE_SECONDS:
            failures = 0
        await asyncio.sleep(RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)])
        failures += 1
        _failures[instance] = failures


def forget(instance: str) -> None:
    """Drop what is kept about following an instance that is gone."""
    _next_start.pop(instance, None)
    _failures.pop(instance, None)
    _engines.pop(instance, None)


async def follow_engine(engine: inner.InstanceEngine, tell: Callable[[list[int]], Awaitable[None]]) -> None:
    """Tell the engine's published ports now and after every burst on its event stream, until that fails."""
    loop = asyncio.get_running_loop()
    timeout = settings.INSTANCE_API_TIMEOUT
    gaps, published = 0, None
    async with inner.doorbell(engine, timeout) as bell:
        while True:
            found = await inner.published_ports(engine, timeout)
            changed, published = found != published, found
            await tell(found)
            looked = loop.time()
            # A ring may come from events the look already covered (a container's create and start, say).
            await bell.rung()
            quiet = loop.time() - looked > QUIET_SECONDS
            gaps = 0 if changed or quiet else min(gaps + 1, len(GAP_SECONDS) - 1)
            await asyncio.sleep(GAP_SECONDS[gaps])
