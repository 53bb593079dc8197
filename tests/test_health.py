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


def test_it_answers_503_when_the_engine_is_unreachable(client: Client, playground: Playground, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr("engine.daemon.ping", lambda: False)
    assert client.get("/ping").status_code == 503


def test_it_lists_the_images(client: Client, playground: Playground) -> None:
    assert client.get("/instances/images").json() == [playground.default_image]


def test_it_describes_the_playground(client: Client, playground: Playground) -> None:
    body = client.get("/my/playground").json()
    assert body["max_instances"] == 5
    assert body["default_session_duration"] == 4 * 3600


def test_it_publishes_an_openapi_document(client: Client, playground: Playground) -> None:
    document = client.get("/api/openapi.json").json()
    assert document["openapi"].startswith("3.")
    assert "/sessions/{session_id}/instances" in document["paths"]


def test_it_shows_the_session_page(client: Client, playground: Playground) -> None:
    assert client.get("/p/nosuchsession").status_code == 404
