"""Count ssh traffic as session activity, so idle culling spares learners who work over ssh."""

from __future__ import annotations

import asyncio
import logging
import time

from gateway.access import off_loop
from sessions.models import ACTIVITY_RESOLUTION, Session

log = logging.getLogger(__name__)


@off_loop
def _touch(session_id: str) -> None:
    Session.objects.filter(pk=session_id).touch()


class Activity:
    """Record traffic of one connection on its session, at most once per ACTIVITY_RESOLUTION."""

    def __init__(self, session_id: str) -> None:
        self.session_id = session_id
        self._next = 0.0
        self._pending: set[asyncio.Task[None]] = set()

    def seen(self) -> None:
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + ACTIVITY_RESOLUTION.total_seconds()
        task = asyncio.create_task(_touch(self.session_id))
        self._pending.add(task)  # the loop keeps only weak references to tasks
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._pending.discard(task)
        if not task.cancelled() and task.exception():
            log.warning("could not record activity of session %s: %s", self.session_id, task.exception())
