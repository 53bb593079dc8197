"""A session's containers, volumes, network and rows are gone within seconds of its deadline."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone

from engine import sandboxes
from engine.daemon import default
from sessions import tasks
from sessions.models import Instance, Playground, Session
from tests.conftest import NOTHING, Api, wait_until_ended
from tests.processes import Processes


def test_it_removes_a_15s_session_within_5s_of_its_deadline(live: Playground, celery: Processes, api: Api) -> None:
    session_id = api.start(**{"session-duration": "15s"})
    api.add(session_id)
    session = Session.objects.get(pk=session_id)
    assert sandboxes.labelled_objects(default(), session_id) != NOTHING

    wait_until_ended(session_id)
    lateness = (timezone.now() - session.expires_at).total_seconds()
    assert lateness <= 5, f"gone {lateness:.1f}s after the deadline"
    session.refresh_from_db()
    assert session.end_reason == "expired"
    assert not Instance.objects.filter(session=session).exclude(state=Instance.State.GONE).exists()


def test_it_keeps_a_session_until_its_deadline(live: Playground, celery: Processes, api: Api) -> None:
    session_id = api.start(**{"session-duration": "6s"})
    time.sleep(4)  # the behaviour under test: four of its six seconds pass, with the sweep running every second
    assert Session.objects.get(pk=session_id).state == Session.State.ACTIVE
    assert sandboxes.labelled_objects(default(), session_id)["networks"]


def test_it_enqueues_the_endings_a_sweep_finds_at_once(
    docker_engine: None, playground: Playground, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = timezone.now()
    overdue = Session.objects.create(playground=playground, expires_at=now - timedelta(seconds=1))
    soon = Session.objects.create(playground=playground, expires_at=now + timedelta(seconds=settings.SWEEP_INTERVAL))
    enqueued: list[tuple[Any, ...]] = []
    monkeypatch.setattr(tasks.end_session, "apply_async", lambda args, eta: enqueued.append((*args, eta)))

    # This test runs inside a transaction that never commits: nothing waits for one.
    tasks.sweep()

    assert enqueued == [(overdue.pk, None), (soon.pk, soon.expires_at)]
