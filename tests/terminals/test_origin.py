"""Only pages of the site itself (or of CORS_ALLOWED_ORIGINS) may open a session's WebSocket."""

from typing import Any

import pytest

from sessions.models import Playground
from terminals.origin import CLOSE_FORBIDDEN_ORIGIN, origin_allowed
from tests.conftest import Api
from tests.terminals.conftest import Viewer


def _scope(origin: str | None, host: str = "play.example.org") -> dict[str, Any]:
    headers = [(b"host", host.encode())]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    return {"type": "websocket", "headers": headers}


def test_it_allows_the_site_itself() -> None:
    assert origin_allowed(_scope("https://play.example.org"))
    assert origin_allowed(_scope("http://localhost:8000", host="localhost:8000"))


def test_it_refuses_other_sites_and_other_ports() -> None:
    assert not origin_allowed(_scope("https://evil.example.com"))
    assert not origin_allowed(_scope("http://localhost:9999", host="localhost:8000"))
    assert not origin_allowed(_scope("null"))


def test_it_allows_configured_cors_origins(settings: Any) -> None:
    settings.CORS_ALLOWED_ORIGINS = ["https://training.example.com"]
    assert origin_allowed(_scope("https://training.example.com"))


def test_it_allows_clients_that_are_not_browsers() -> None:
    assert origin_allowed(_scope(None))


@pytest.fixture
def session_id(live: Playground, api: Api) -> str:
    return api.start()


async def test_it_closes_a_foreign_origin_with_4403(session_id: str) -> None:
    async with Viewer(session_id, origin="https://evil.example.com") as viewer:
        assert await viewer.event() == {"name": "close", "args": [CLOSE_FORBIDDEN_ORIGIN]}


async def test_it_accepts_the_sites_own_origin(node: dict[str, Any]) -> None:
    async with Viewer(node["session_id"], origin="http://testserver") as viewer:
        assert (await viewer.ready(node["name"]))["args"] == [node["name"], "connect"]
