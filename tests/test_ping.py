"""GET /ping tells a load balancer whether to send learners here: 200 ready, 503 an engine down, 507 full."""

import socket
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from engine.daemon import Daemon
from sessions.models import Playground


def test_it_answers_ping_when_the_engine_is_up(client: Client, docker_engine: None, playground: Playground) -> None:
    response = client.get("/ping")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["engines"] == {"default": "ok"}
    assert settings.SANDBOX_ENGINE not in response.content.decode(), "an engine's address is the operator's"


def test_it_answers_507_at_capacity(
    client: Client, docker_engine: None, playground: Playground, settings: object
) -> None:
    # A reserve larger than the host's memory leaves room for no instance.
    settings.SANDBOX_MEMORY_RESERVE_MB = 10**9  # type: ignore[attr-defined]
    response = client.get("/ping")
    assert response.status_code == 507
    assert response.json()["error"] == "out_of_capacity"


def test_it_answers_503_when_the_engine_is_unreachable(
    client: Client, playground: Playground, settings: object, tmp_path: Path
) -> None:
    dead = f"unix://{tmp_path}/engine.sock"  # nothing listens there
    settings.SANDBOX_ENGINE = dead  # type: ignore[attr-defined]
    response = client.get("/ping")
    assert response.status_code == 503
    assert response.json()["error"] == "engine_unreachable"
    timeout = settings.PING_TIMEOUT  # type: ignore[attr-defined]
    assert response.json()["message"] == f"the sandbox engine default does not answer within {timeout} s"
    assert response.json()["engines"] == {"default": "unreachable"}
    assert str(tmp_path) not in response.content.decode()


def test_it_answers_503_in_time_when_the_engine_hangs(
    client: Client, playground: Playground, settings: object, tmp_path: Path
) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as hung:
        hung.bind(str(tmp_path / "engine.sock"))
        hung.listen()  # connections queue up, and nobody ever answers them
        settings.SANDBOX_ENGINE = f"unix://{tmp_path}/engine.sock"  # type: ignore[attr-defined]
        settings.PING_TIMEOUT = 1  # type: ignore[attr-defined]
        started = time.monotonic()
        response = client.get("/ping")
        assert response.status_code == 503
        assert time.monotonic() - started < 5


def test_a_flood_of_pings_pings_each_engine_once_a_second(
    client: Client, playground: Playground, settings: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Anyone may ask /ping: were each request to ping every engine, a visitor could keep them all busy.
    settings.SANDBOX_ENGINE = f"unix://{tmp_path}/engine.sock"  # type: ignore[attr-defined]
    asked: list[str] = []

    def ping(daemon: Daemon, timeout: int = 10) -> bool:
        asked.append(daemon.url)
        return False

    monkeypatch.setattr(Daemon, "ping", ping)
    for _ in range(20):
        assert client.get("/ping").status_code == 503
    assert len(asked) == 1
