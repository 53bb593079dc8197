"""A connection's traffic counts as its session's activity: recorded in the background, once per resolution."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from django.utils import timezone

from sessions import activity
from sessions.activity import Activity
from sessions.models import Playground, Session


def an_idle_session(playground: Playground) -> Session:
    long_ago = timezone.now() - timedelta(hours=1)
    return Session.objects.create(
        playground=playground, expires_at=timezone.now() + timedelta(hours=1), last_activity_at=long_ago
    )


def test_it_records_traffic_as_activity(transactional_db: None, playground: Playground) -> None:
    session = an_idle_session(playground)

    async def some_traffic() -> None:
        traffic = Activity(session.id)
        traffic.seen()
        await traffic.settled()

    asyncio.run(some_traffic())
    session.refresh_from_db()
    assert session.last_activity_at > timezone.now() - timedelta(minutes=1)


async def test_it_writes_once_for_a_burst_of_traffic(monkeypatch: pytest.MonkeyPatch) -> None:
    written: list[str] = []

    async def record(session_id: str) -> None:
        written.append(session_id)

    monkeypatch.setattr(activity, "_record_off_loop", record)
    traffic = Activity("s1")
    for _ in range(1000):
        traffic.seen()
    await traffic.settled()
    assert written == ["s1"]
