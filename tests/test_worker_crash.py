"""A worker killed while it removes a session leaves nothing behind once a worker runs again."""

from __future__ import annotations

from engine import sandboxes
from engine.daemon import default
from sessions.models import Playground, Session
from tests.conftest import NOTHING, Api
from tests.processes import Processes, wait_until


def test_it_finishes_an_ending_after_the_worker_is_killed_halfway(
    live: Playground, celery: Processes, api: Api
) -> None:
    live.max_instances = 3
    live.save()
    session_id = api.start(**{"session-duration": "30s"})
    for _ in range(3):
        api.add(session_id)
    Session.objects.filter(pk=session_id).update(expires_at=Session.objects.get(pk=session_id).created_at)

    def ending() -> bool:
        """the worker has claimed the ending"""
        return Session.objects.filter(pk=session_id, state=Session.State.ENDING).exists()

    wait_until(ending, timeout=15, interval=0.01)
    celery.kill("worker")
    assert Session.objects.get(pk=session_id).state == Session.State.ENDING, "killed too late to prove anything"
    left_behind = sandboxes.labelled_objects(default(), session_id)
    assert left_behind != NOTHING

    celery.start("worker")

    def finished() -> bool:
        """the session is ended and every object it owned removed"""
        ended = Session.objects.filter(pk=session_id, state=Session.State.ENDED).exists()
        return ended and sandboxes.labelled_objects(default(), session_id) == NOTHING

    wait_until(finished, timeout=30)
    assert Session.objects.get(pk=session_id).end_reason == "expired"
