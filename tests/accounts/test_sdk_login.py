"""PWD's SDK on another site logs in through the OAuth popup, against a real (local) OpenID Connect provider."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from allauth.socialaccount.models import SocialAccount
from playwright.sync_api import sync_playwright

from sessions.models import Playground, Session
from tests.accounts.oidc import CLIENT_ID, CLIENT_SECRET, Provider, oidc_provider
from tests.daphne import start_daphne, stop_daphne
from tests.terminals.chromium import CHROMIUM, CHROMIUM_ARGS, other_origin
from tests.terminals.conftest import REDIS_URL

PAGES = Path(__file__).parent / "pages"


@pytest.fixture
def trainer_site() -> Iterator[str]:
    """Serve the trainer's page on a loopback port of its own: another origin than the playground's."""
    with other_origin(PAGES) as url:
        yield url


@pytest.fixture
def provider() -> Iterator[Provider]:
    with oidc_provider() as provider:
        yield provider


@pytest.fixture
def playground_url(live: Playground, trainer_site: str, provider: Provider, tmp_path: Path) -> Iterator[str]:
    server = start_daphne(
        tmp_path / "daphne.log",
        REDIS_URL=REDIS_URL,
        CORS_ALLOWED_ORIGINS=trainer_site,
        LOGIN_REQUIRED_TO_START="true",
        OIDC_CLIENT_ID=CLIENT_ID,
        OIDC_CLIENT_SECRET=CLIENT_SECRET,
        OIDC_SERVER_URL=provider.url,
        OIDC_PROVIDER_ID="school",
    )
    yield server.url
    stop_daphne(server)


def test_it_logs_in_through_the_popup_and_then_starts(
    trainer_site: str, playground_url: str, provider: Provider
) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(f"{trainer_site}/sdk-login.html")
        result = page.evaluate("([base]) => startWithLogin(base, 'school')", [playground_url])
        page.wait_for_function("() => window.loginPopup.closed")
        browser.close()
    assert result["first"] == {
        "status": 403,
        "body": {"error": "login_required", "message": "log in to start a session"},
    }
    assert result["origin"] == playground_url, "the popup on the playground said done"
    assert result["second"]["status"] == 200, result["second"]
    [authorize] = provider.authorize_requests
    assert authorize["client_id"] == CLIENT_ID
    assert authorize["redirect_uri"] == f"{playground_url}/accounts/oidc/school/login/callback/"
    account = SocialAccount.objects.get(provider="school")
    assert (account.uid, account.user.username) == ("learner-1", "lena")
    assert Session.objects.filter(pk=result["second"]["body"]["session_id"]).exists()
