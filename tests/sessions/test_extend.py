"""Learners may extend a session up to their playground's maximum, never past it, and not at all by default."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.test import Client
from django.utils import timezone

from sessions.models import Playground, Session
from tests.conftest import Api


def extend(client: Client, session_id: str, status: int) -> dict[str, object]:
    response = client.post(f"/sessions/{session_id}/extend", headers={"x-requested-with": "XMLHttpRequest"})
    assert response.status_code == status, response.content
    return dict(response.json())


def test_it_refuses_to_extend_by_default(live: Playground, api: Api, client: Client) -> None:
    session_id = api.start()
    body = extend(client, session_id, 403)
    assert body["error"] == "extend_not_allowed"
    assert "does not allow extending" in str(body["message"])


def test_it_extends_up_to_the_playgrounds_maximum(live: Playground, api: Api, client: Client) -> None:
    live.session_duration = timedelta(hours=1)
    live.max_session_duration = timedelta(hours=1, minutes=30)
    live.save()
    session_id = api.start(**{"session-duration": "10m"})
    created_at = Session.objects.get(pk=session_id).created_at

    first = datetime.fromisoformat(str(extend(client, session_id, 200)["expires_at"]))
    assert timedelta(minutes=59) < first - timezone.now() <= timedelta(hours=1)

    # 45 minutes later, a full hour more would pass the 90-minute maximum: the deadline stops at it.
    later = timedelta(minutes=45)
    Session.objects.filter(pk=session_id).update(created_at=created_at - later, expires_at=first - later)
    capped = datetime.fromisoformat(str(extend(client, session_id, 200)["expires_at"]))
    assert capped == created_at - later + timedelta(hours=1, minutes=30)

    body = extend(client, session_id, 409)
    assert body["error"] == "max_session_duration"
    assert "as long as allowed" in str(body["message"])


def test_it_refuses_to_extend_an_expired_or_ended_session(live: Playground, api: Api, client: Client) -> None:
    live.max_session_duration = timedelta(hours=8)
    live.save()
    session_id = api.start()
    Session.objects.filter(pk=session_id).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert extend(client, session_id, 410)["message"] == "this session has expired"

    client.delete(f"/sessions/{session_id}")
    assert extend(client, session_id, 410)["error"] == "session_ended"
    assert extend(client, "no-such-session", 404)["error"] == "not_found"
