"""Nothing but the beat's sweep is load-bearing: stopped past a deadline, then restarted, it ends the session."""

from __future__ import annotations

import time

from django.utils import timezone

from engine import sandboxes
from engine.daemon import default
from sessions.models import Playground, Session
from tests.conftest import Api
from tests.processes import Processes, wait_until


def test_it_ends_an_overdue_session_once_beat_restarts(live: Playground, celery: Processes, api: Api) -> None:
    celery.stop("beat")
    session_id = api.start(**{"session-duration": "2s"})
    deadline = Session.objects.get(pk=session_id).expires_at
    # The behaviour under test: the deadline passes, and three seconds more, with no beat to start a sweep.
    time.sleep(max(0.0, (deadline - timezone.now()).total_seconds()) + 3)
    assert Session.objects.get(pk=session_id).state == Session.State.ACTIVE

    celery.start("beat")

    def ended() -> bool:
        """the overdue session is ended and its network removed"""
        return (
            Session.objects.filter(pk=session_id, state=Session.State.ENDED).exists()
            and not sandboxes.labelled_objects(default(), session_id)["networks"]
        )

    wait_until(ended, timeout=20)
