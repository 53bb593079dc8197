"""GET /ping tells a load balancer whether to send learners here: 200 ready, 503 engine down, 507 full."""

import pytest
from django.test import Client

from sessions.models import Playground


def test_it_answers_ping_when_the_engine_is_up(client: Client, docker_engine: None, playground: Playground) -> None:
    response = client.get("/ping")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_it_answers_507_at_capacity(
    client: Client, docker_engine: None, playground: Playground, settings: object
) -> None:
    # A reserve larger than the host's memory leaves room for no instance.
    settings.SANDBOX_MEMORY_RESERVE_MB = 10**9  # type: ignore[attr-defined]
    response = client.get("/ping")
    assert response.status_code == 507
    assert response.json()["error"] == "out_of_capacity"


def test_it_answers_503_when_the_engine_is_unreachable(
    client: Client, playground: Playground, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("engine.daemon.ping", lambda: False)
    assert client.get("/ping").status_code == 503
