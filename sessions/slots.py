"""How many of a thing one process runs at once, in all and per session: past either limit, a 429.

Execs, setups and uploads each hold a thread or a connection until they end, for up to their deadline; the
limits keep one learner from taking all of them, and all learners together from taking the process.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from sessions.lifecycle import SandboxError


class Slots:
    """Count what runs at once, per session; the limits are given at each use, as settings may change."""

    def __init__(self, what: str, refusal: type[SandboxError]) -> None:
        self.what, self.refusal = what, refusal
        self._held: Counter[str] = Counter()
        self._lock = threading.Lock()

    @contextmanager
    def hold(self, session_id: str, per_session: int, total: int) -> Iterator[None]:
        """Hold a slot while the block runs; refuse if the session holds per_session of them, or all hold total."""
        with self._lock:
            if self._held[session_id] >= per_session:
                raise self.refusal(f"this session already runs {per_session} {self.what}; wait for one to end")
            if self._held.total() >= total:
                raise self.refusal(f"this server runs as many {self.what} as it can; try again in a moment")
            self._held[session_id] += 1
        try:
            yield
        finally:
            with self._lock:
                self._held[session_id] -= 1
                if not self._held[session_id]:
                    del self._held[session_id]
