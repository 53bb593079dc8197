"""JSON nested far past Python's recursion limit is a 400, in every JSON body the API reads."""

from datetime import timedelta
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.utils import timezone

from playground.asgi import application
from sessions.lifecycle import BadInput
from sessions.models import Playground, Session
from sessions.parsing import json_body

DEEP = b"[" * 100_000 + b"]" * 100_000
DEEP_OBJECT = b'{"a":' * 100_000 + b"1" + b"}" * 100_000


@pytest.fixture
def session(playground: Playground) -> Session:
    return Session.objects.create(playground=playground, expires_at=timezone.now() + timedelta(hours=1))


@pytest.mark.parametrize("body", [DEEP, DEEP_OBJECT, b"[" * 100_000])
def test_it_refuses_deep_nesting_as_bad_input(body: bytes) -> None:
    with pytest.raises(BadInput, match="nests JSON too deeply"):
        json_body(body)


@pytest.mark.parametrize("path", ["instances", "ssh-keys"])
def test_it_answers_deep_json_with_400(client: Client, session: Session, path: str) -> None:
    response = client.post(f"/sessions/{session.id}/{path}", DEEP_OBJECT, content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {"error": "bad_request", "message": "the body nests JSON too deeply"}


@pytest.mark.django_db(transaction=True)
async def test_it_ignores_a_deep_websocket_frame_and_keeps_the_socket(session: Session, settings: Any) -> None:
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    communicator = WebsocketCommunicator(application, f"/sessions/{session.id}/ws/")
    connected, _ = await communicator.connect()
    assert connected
    await communicator.send_to(text_data=DEEP_OBJECT.decode())
    assert await communicator.receive_nothing(timeout=0.5)
    await communicator.disconnect()
