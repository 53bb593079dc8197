"""A session's terminal recordings: their download and replay page, 404 when there are none, kept on request."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from sessions import lifecycle, recordings
from sessions.models import Instance, Playground, Session
from tests.conftest import Api

CAST = '{"version": 2, "width": 80, "height": 24, "timestamp": 1}\n[0.5, "o", "hi\\r\\n"]\n'


@pytest.fixture(autouse=True)
def recordings_dir(settings: Any, tmp_path: Path) -> Path:
    settings.RECORDINGS_DIR = tmp_path / "recordings"
    return Path(settings.RECORDINGS_DIR)


@pytest.fixture
def instance(playground: Playground) -> Instance:
    """An instance row (no sandbox: these routes only read files)."""
    session = Session.objects.create(playground=playground, expires_at=timezone.now() + timedelta(hours=1))
    return Instance.objects.create(session=session, name="pg-test-node1-abc123", hostname="node1", image="x")


def record(instance: Instance, text: str = CAST) -> Path:
    path = recordings.path(instance.session_id, instance.name)
    path.parent.mkdir(parents=True)
    path.write_text(text)
    return path


def test_it_answers_404_json_without_a_recording(client: Client, instance: Instance) -> None:
    response = client.get(f"/sessions/{instance.session_id}/instances/{instance.name}/recording")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_it_answers_404_json_for_an_unknown_instance_or_session(client: Client, instance: Instance) -> None:
    record(instance)
    for url in (
        f"/sessions/{instance.session_id}/instances/pg-test-node2-abc123/recording",
        f"/sessions/nosuchsession/instances/{instance.name}/recording",
        f"/sessions/{instance.session_id}/instances/../recording",
    ):
        response = client.get(url)
        assert response.status_code == 404, url
        assert response.json()["error"] == "not_found"


def test_it_serves_whole_lines_only(client: Client, instance: Instance) -> None:
    record(instance, CAST + '[0.7, "o", "cut sh')
    response = client.get(f"/sessions/{instance.session_id}/instances/{instance.name}/recording")
    assert response.status_code == 200
    assert response.content.decode() == CAST


def test_it_shows_a_replay_page(client: Client, instance: Instance) -> None:
    record(instance)
    response = client.get(f"/p/{instance.session_id}/replay/{instance.name}")
    assert response.status_code == 200
    assert (
        f'data-src="/sessions/{instance.session_id}/instances/{instance.name}/recording"'.encode() in response.content
    )


def test_it_says_there_is_nothing_to_replay(client: Client, instance: Instance) -> None:
    response = client.get(f"/p/{instance.session_id}/replay/{instance.name}")
    assert response.status_code == 404
    assert b"There is no recording of node1" in response.content


def test_it_keeps_the_recordings_of_an_ended_session_when_asked(live: Playground, api: Api) -> None:
    session = Session.objects.get(pk=api.start())
    kept = recordings.path(session.id, "pg-kept-node1-abc123")
    kept.parent.mkdir(parents=True)
    kept.write_text(CAST)
    lifecycle.end_session(session, reason="workshop over", keep_recordings=True)
    assert Session.objects.get(pk=session.id).state == Session.State.ENDED
    assert kept.read_text() == CAST


def test_room_is_the_per_recording_limit_less_what_the_others_hold_past_the_budget(
    instance: Instance, settings: Any
) -> None:
    settings.RECORDING_MAX_BYTES, settings.RECORDING_SESSION_MAX_BYTES = 100, 250
    assert recordings.room(instance.session_id, instance.name) == 100
    mine = record(instance, "m" * 80)
    assert recordings.room(instance.session_id, instance.name) == 100  # its own file does not count
    (mine.parent / "pg-test-node2-abc123.cast").write_text("o" * 200)
    assert recordings.room(instance.session_id, instance.name) == 50
    (mine.parent / "pg-test-node3-abc123.cast").write_text("o" * 100)
    assert recordings.room(instance.session_id, instance.name) == 0
