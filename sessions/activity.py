"""Record a learner's activity on a session, which postpones idle culling.

Activity is an API call that acts on a live session, input to a browser terminal, or traffic of an ssh
connection. The API records it with record_activity(); a connection (a terminal's WebSocket, an ssh connection) with an
Activity, which writes at most once per ACTIVITY_RESOLUTION and never on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor

from channels.db import database_sync_to_async

from sessions.models import ACTIVITY_RESOLUTION, Session

log = logging.getLogger(__name__)

# One thread writes a process's activity: each connection writes once per ACTIVITY_RESOLUTION at most, and the
# writes never queue behind the process's other database work (a consumer's look-ups, a view's queries).
_WRITER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="activity")


def record_activity(session_id: str) -> None:
    """Record activity on the session now, unless it was recorded within ACTIVITY_RESOLUTION."""
    Session.objects.filter(pk=session_id).touch()


_record_off_loop = database_sync_to_async(record_activity, thread_sensitive=False, executor=_WRITER)


class Activity:
    """Record the traffic of one connection on its session, in the background, at most once per ACTIVITY_RESOLUTION."""

    def __init__(self, session_id: str) -> None:
        self.session_id = session_id
        self._next = 0.0
        # The loop keeps only weak references to tasks: these are the writes still under way.
        self._writing: set[asyncio.Task[None]] = set()

    def seen(self) -> None:
        """Count traffic now; a write, when one is due, starts at once and is not waited for."""
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + ACTIVITY_RESOLUTION.total_seconds()
        task = asyncio.create_task(_record_off_loop(self.session_id))
        self._writing.add(task)
        task.add_done_callback(self._done)

    async def settled(self) -> None:
        """Wait until the traffic seen so far is recorded (or has failed to be)."""
        await asyncio.gather(*self._writing, return_exceptions=True)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._writing.discard(task)
        if not task.cancelled() and task.exception():
            log.warning("could not record activity of session %s: %s", self.session_id, task.exception())
