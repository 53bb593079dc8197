"""The login page logs a user in with a password and offers the configured OAuth providers; logout logs out."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.test import Client

from tests.accounts.conftest import PASSWORD

GITHUB = {"github": {"APPS": [{"client_id": "gh-client", "secret": "gh-secret"}]}}


def test_it_shows_a_login_form_in_the_sites_frame(client: Client, db: None) -> None:
    page = client.get("/accounts/login/").content.decode()
    assert 'class="topbar"' in page
    assert 'name="username"' in page and 'name="password"' in page
    assert "Or log in with" not in page, "no provider is configured"


def test_it_logs_in_with_a_password(client: Client, charlie: User) -> None:
    response = client.post("/accounts/login/", {"username": "charlie", "password": PASSWORD, "next": "/"})
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.get("/users/me").json() == {"id": charlie.pk, "name": "charlie", "is_trainer": False}


def test_it_refuses_a_wrong_password_clearly(client: Client, charlie: User) -> None:
    response = client.post("/accounts/login/", {"username": "charlie", "password": "guess"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()
    assert client.get("/users/me").status_code == 401


def test_it_logs_out(client: Client, alice: User) -> None:
    client.force_login(alice)
    assert 'id="logout"' in client.get("/").content.decode()
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert client.get("/users/me").json()["error"] == "not_logged_in"


def test_it_offers_the_configured_providers(client: Client, db: None, settings: Any) -> None:
    settings.SOCIALACCOUNT_PROVIDERS = GITHUB
    page = client.get("/accounts/login/?next=/p/x").content.decode()
    assert 'href="/oauth/providers/github/login?next=/p/x"' in page


def test_it_has_no_sign_up(client: Client, db: None) -> None:
    response = client.post("/accounts/signup/", {"username": "mallory", "password1": "x" * 12})
    assert response.status_code == 404
    assert not User.objects.filter(username="mallory").exists()
