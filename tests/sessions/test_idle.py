"""Sessions idle longer than their playground's idle timeout are ended; API calls count as activity."""

from __future__ import annotations

from datetime import timedelta

from django.test import Client
from django.utils import timezone

from engine import sandboxes
from engine.daemon import default
from sessions.models import Playground, Session
from tests.conftest import Api
from tests.processes import Processes, wait_until


def test_it_ends_a_session_idle_past_the_timeout(live: Playground, celery: Processes, api: Api) -> None:
    live.idle_timeout = timedelta(seconds=2)
    live.save()
    session_id = api.start()

    def ended() -> bool:
        """the idle session is ended and its network removed"""
        session = Session.objects.get(pk=session_id)
        return (
            session.state == Session.State.ENDED and not sandboxes.labelled_objects(default(), session_id)["networks"]
        )

    wait_until(ended, timeout=20)
    assert Session.objects.get(pk=session_id).end_reason == "idle"


def test_it_never_culls_idle_sessions_by_default(live: Playground, celery: Processes, api: Api) -> None:
    assert live.idle_timeout is None
    session_id = api.start()
    Session.objects.filter(pk=session_id).update(last_activity_at=timezone.now() - timedelta(days=1))
    swept = celery.sweeps_done()
    wait_until(lambda: celery.sweeps_done() >= swept + 2, timeout=20)
    assert Session.objects.get(pk=session_id).is_live


def test_it_counts_api_calls_on_a_session_as_activity(live: Playground, api: Api, client: Client) -> None:
    session_id = api.start()
    an_hour_ago = timezone.now() - timedelta(hours=1)
    Session.objects.filter(pk=session_id).update(last_activity_at=an_hour_ago)

    client.delete(f"/sessions/{session_id}/instances/no-such-instance")

    assert Session.objects.get(pk=session_id).last_activity_at > an_hour_ago


def test_it_does_not_count_reading_a_session_as_activity(live: Playground, api: Api, client: Client) -> None:
    session_id = api.start()
    an_hour_ago = timezone.now() - timedelta(hours=1)
    Session.objects.filter(pk=session_id).update(last_activity_at=an_hour_ago)

    api.get(session_id)
    client.get(f"/p/{session_id}")

    assert Session.objects.get(pk=session_id).last_activity_at == an_hour_ago
