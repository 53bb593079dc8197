"""A WebSocket path that names no route is refused at the handshake, never with a server error."""

import pytest
from channels.testing import WebsocketCommunicator
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from playground.asgi import application
from tests.daphne import Daphne

HOSTILE_PATHS = [
    "/sessions/..%2f..%2fetc/ws/",
    "/sessions/abc/ws/..%2f..%2f",
    "/sessions/..%2f/ws/",
    "/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/sessions/abc/ws",
    "/ws/",
    "/",
]


@pytest.mark.parametrize("path", HOSTILE_PATHS)
async def test_it_refuses_the_handshake_of_an_unknown_path(transactional_db: None, path: str) -> None:
    # Some of them do name the session route (its id is "..%2f..%2fetc"): that one looks the session up.
    communicator = WebsocketCommunicator(application, path)
    connected, _ = await communicator.connect()
    assert not connected
    await communicator.disconnect()


async def test_it_answers_403_through_daphne_without_a_traceback(daphne: Daphne) -> None:
    url = daphne.url.replace("http://", "ws://") + "/sessions/..%2f..%2fetc/ws/"
    with pytest.raises(InvalidStatus) as refused:
        async with connect(url):
            pass
    assert refused.value.response.status_code == 403
    assert "Traceback" not in daphne.log.read_text()
