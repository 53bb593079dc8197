from datetime import timedelta

import pytest
from django.test import Client

from engine import sandboxes
from engine.daemon import default
from sessions.models import Playground, Session
from tests.conftest import Api

XHR = {"x-requested-with": "XMLHttpRequest"}


def test_it_shows_a_start_button(client: Client, playground: Playground) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert b'id="start"' in response.content


def test_it_starts_a_session_for_xhr_clients(live: Playground, api: Api) -> None:
    session_id = api.start()
    session = Session.objects.get(pk=session_id)
    assert len(session_id) >= 26
    assert session.expires_at - session.created_at == live.session_duration
    assert sandboxes.labelled_objects(default(), session_id)["networks"], "the session network exists"


def test_it_redirects_form_posts_to_the_session_page(live: Playground) -> None:
    client = Client(enforce_csrf_checks=True)
    client.get("/")
    response = client.post("/", {"csrfmiddlewaretoken": client.cookies["csrftoken"].value})
    assert response.status_code == 302
    assert response["Location"].startswith("/p/")


def test_it_refuses_form_posts_without_a_csrf_token(playground: Playground) -> None:
    response = Client(enforce_csrf_checks=True).post("/", {})
    assert response.status_code == 403
    assert not Session.objects.exists()


def test_it_shortens_the_session_on_request(live: Playground, api: Api) -> None:
    session = Session.objects.get(pk=api.start(**{"session-duration": "90m"}))
    assert session.expires_at - session.created_at == timedelta(minutes=90)


def test_it_never_lengthens_the_session_past_the_playground(live: Playground, api: Api) -> None:
    session = Session.objects.get(pk=api.start(**{"session-duration": "400h"}))
    assert session.expires_at - session.created_at == live.session_duration


@pytest.mark.parametrize(
    ("form", "code"),
    [({"session-duration": "soon"}, "bad_request"), ({"image_name": "evil/miner"}, "bad_request")],
)
def test_it_refuses_bad_form_fields(client: Client, playground: Playground, form: dict[str, str], code: str) -> None:
    response = client.post("/", form, headers=XHR)
    assert response.status_code == 400
    assert response.json()["error"] == code
    assert response.json()["message"]
    assert not Session.objects.exists()


def test_it_answers_cors_preflights_for_configured_origins(client: Client, settings: object) -> None:
    settings.CORS_ALLOWED_ORIGINS = ["https://training.example"]  # type: ignore[attr-defined]
    response = client.options(
        "/",
        headers={
            "origin": "https://training.example",
            "access-control-request-method": "POST",
            "access-control-request-headers": "x-requested-with, content-type",
        },
    )
    assert response["access-control-allow-origin"] == "https://training.example"
    assert response["access-control-allow-credentials"] == "true"
    assert "x-requested-with" in response["access-control-allow-headers"]


def test_it_gives_no_cors_headers_to_other_origins(client: Client) -> None:
    response = client.options(
        "/sessions/x", headers={"origin": "https://evil.example", "access-control-request-method": "DELETE"}
    )
    assert "access-control-allow-origin" not in response


def test_it_limits_how_many_sessions_one_address_starts(live: Playground, settings: object) -> None:
    settings.SESSION_STARTS_PER_MINUTE = 2  # type: ignore[attr-defined]
    client = Client(REMOTE_ADDR="192.0.2.7")
    codes = [client.post("/", {}, headers=XHR).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    response = client.post("/", {}, headers=XHR)
    assert response.json()["error"] == "too_many_sessions"
    assert "try again in a minute" in response.json()["message"]
    assert Session.objects.count() == 2
    assert Client(REMOTE_ADDR="192.0.2.8").post("/", {}, headers=XHR).status_code == 200
