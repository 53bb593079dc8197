"""Follow the ports an instance publishes while someone views it; nothing polls, an idle instance costs nothing.

The instance's engine is asked for its containers and services once, then again after each burst on its event
stream. It is the learner's engine: it may answer slowly, with garbage or not at all, which only ever delays the
badges of that instance (every call has a deadline and a cap, see sessions/inner.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from channels.db import database_sync_to_async
from django.conf import settings

from router import credentials
from sessions import inner
from sessions.models import Instance

log = logging.getLogger(__name__)

# Events come in bursts (a compose file starting ten containers): look once the burst has passed.
SETTLE_SECONDS = 0.5
RETRY_SECONDS = (1, 2, 5, 10)
# A stream that lasted this long was a working engine: the next failure starts the back-off again.
STABLE_SECONDS = 30


@database_sync_to_async
def _engine(name: str) -> inner.Engine | None:
    instance = Instance.objects.filter(name=name, state=Instance.State.RUNNING).first()
    if instance is None or not instance.ip:
        return None
    identity = credentials.platform_identity()
    return inner.Engine(instance.ip, credentials.instance_ca(instance), identity.cert_path, identity.key_path)


async def follow(instance: str, tell: Callable[[list[int]], Awaitable[None]]) -> None:
    """Tell the instance's published ports now and after every change, until cancelled or the instance is gone."""
    loop = asyncio.get_running_loop()
    timeout = settings.INSTANCE_API_TIMEOUT
    failures = 0
    while (engine := await _engine(instance)) is not None:
        opened_at = loop.time()
        try:
            async with inner.doorbell(engine, timeout) as bell:
                while True:
                    await tell(await inner.published_ports(engine, timeout))
                    await bell.rung()
                    await asyncio.sleep(SETTLE_SECONDS)
        except inner.Unanswered as e:
            log.info("cannot follow the ports of %s: %s", instance, e)
        if loop.time() - opened_at > STABLE_SECONDS:
            failures = 0
        await asyncio.sleep(RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)])
        failures += 1
