"""PWD's OAuth routes: the providers, a provider's login (popup), the page that tells the popup's opener."""

from __future__ import annotations

import socket
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import User
from django.test import Client

from tests.accounts.test_login_page import GITHUB


def test_it_lists_no_provider_unless_configured(client: Client, db: None) -> None:
    assert client.get("/oauth/providers").json() == []


def test_it_lists_the_configured_providers(client: Client, db: None, settings: Any) -> None:
    settings.SOCIALACCOUNT_PROVIDERS = GITHUB
    assert client.get("/oauth/providers").json() == ["github"]


def test_it_refuses_an_unknown_provider_with_a_clear_404(client: Client, db: None, settings: Any) -> None:
    settings.SOCIALACCOUNT_PROVIDERS = GITHUB
    response = client.get("/oauth/providers/docker/login")
    assert response.status_code == 404
    assert "No login provider &#x27;docker&#x27; is configured here." in response.content.decode()


def test_it_refuses_a_known_but_unconfigured_provider(client: Client, db: None) -> None:
    assert client.get("/oauth/providers/github/login").status_code == 404


def test_it_sends_the_popup_to_githubs_authorize_page(client: Client, db: None, settings: Any) -> None:
    settings.SOCIALACCOUNT_PROVIDERS = GITHUB
    response = client.get("/oauth/providers/github/login")
    assert response.status_code == 302
    target = urlsplit(response["Location"])
    query = parse_qs(target.query)
    assert f"{target.scheme}://{target.netloc}{target.path}" == "https://github.com/login/oauth/authorize"
    assert query["client_id"] == ["gh-client"]
    assert query["redirect_uri"] == ["http://testserver/accounts/github/login/callback/"]
    assert query["state"][0]
    assert response["Cross-Origin-Opener-Policy"] == "unsafe-none", "same-origin here would cut the popup off"


def test_it_says_so_when_the_provider_does_not_answer(client: Client, db: None, settings: Any) -> None:
    with socket.socket() as silent:  # bound, never listening: a connection to it is refused
        silent.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        app = {"provider_id": "school", "name": "School", "client_id": "c", "settings": {"server_url": url}}
        settings.SOCIALACCOUNT_PROVIDERS = {"openid_connect": {"APPS": [app]}}
        response = client.get("/oauth/providers/school/login")
    assert response.status_code == 502
    assert "The login provider &#x27;school&#x27; did not answer" in response.content.decode()


def test_the_done_page_tells_its_opener_on_this_site_and_the_cors_origins(
    client: Client, db: None, settings: Any
) -> None:
    settings.CORS_ALLOWED_ORIGINS = ["https://training.example"]
    response = client.get("/accounts/oauth-done/")
    assert response["Cross-Origin-Opener-Policy"] == "unsafe-none", "the popup keeps its opener on another site"
    page = response.content.decode()
    assert '["http://testserver", "https://training.example"]' in page
    assert "js/oauth-done.js" in page


def test_users_me_answers_who_is_logged_in(client: Client, alice: User) -> None:
    assert client.get("/users/me").status_code == 401
    client.force_login(alice)
    assert client.get("/users/me").json() == {"id": alice.pk, "name": "alice", "is_trainer": True}


@pytest.mark.parametrize(
    "path",
    [
        "/accounts/github/login/callback/",
        "/accounts/github/login/callback/?code=x&state=forged",
        "/accounts/github/login/callback/?error=access_denied",
        "/accounts/3rdparty/login/cancelled/",
        "/accounts/3rdparty/login/error/",
        "/accounts/3rdparty/signup/",
        "/accounts/3rdparty/",
        "/accounts/",
    ],
)
def test_allauths_own_pages_never_fail_with_a_server_error(client: Client, db: None, settings: Any, path: str) -> None:
    settings.SOCIALACCOUNT_PROVIDERS = GITHUB
    response = client.get(path)
    assert response.status_code < 500
    if response.status_code == 200:
        assert 'class="topbar"' in response.content.decode(), "in the site's frame"
