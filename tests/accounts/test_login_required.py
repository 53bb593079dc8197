"""With LOGIN_REQUIRED_TO_START, an anonymous visitor cannot start a session; a logged-in one can."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import User
from django.test import Client

from sessions.models import Playground, Session

XHR = {"x-requested-with": "XMLHttpRequest"}


@pytest.fixture(autouse=True)
def login_required(settings: Any) -> None:
    settings.LOGIN_REQUIRED_TO_START = True


def test_it_answers_403_to_the_sdk(client: Client, playground: Playground) -> None:
    response = client.post("/", {"session-duration": "90m"}, headers=XHR)
    assert response.status_code == 403
    assert response.json() == {"error": "login_required", "message": "log in to start a session"}
    assert Session.objects.count() == 0


def test_it_sends_a_form_to_the_login_page_and_back(client: Client, playground: Playground) -> None:
    response = client.post("/", {"stack": "https://raw.githubusercontent.com/a/b/c.yml", "stack_name": "web"})
    assert response.status_code == 302
    target = urlsplit(response["Location"])
    assert target.path == "/accounts/login/"
    assert parse_qs(target.query)["next"] == [
        "/?stack=https%3A%2F%2Fraw.githubusercontent.com%2Fa%2Fb%2Fc.yml&stack_name=web"
    ]
    assert Session.objects.count() == 0


def test_it_tells_the_visitor_to_log_in(client: Client, playground: Playground) -> None:
    page = client.get("/").content.decode()
    assert "Log in to start a session." in page
    assert 'href="/accounts/login/"' in page


def test_it_starts_a_session_once_logged_in(client: Client, live: Playground, charlie: User) -> None:
    client.force_login(charlie)
    response = client.post("/", {}, headers=XHR)
    assert response.status_code == 200, response.content
    assert Session.objects.filter(pk=response.json()["session_id"]).exists()
