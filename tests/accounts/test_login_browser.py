"""In Debian's chromium: the login page logs a user in, the top bar names them, Log out logs them out."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect, sync_playwright

from sessions.models import Playground
from tests.accounts.conftest import PASSWORD
from tests.daphne import start_daphne, stop_daphne
from tests.terminals.chromium import CHROMIUM, CHROMIUM_ARGS
from tests.terminals.conftest import REDIS_URL


@pytest.fixture
def browser_page(live: Playground, tmp_path: Path) -> Iterator[Page]:
    """A page of the site in chromium; request it after any fixture that writes to the database."""
    server = start_daphne(tmp_path / "daphne.log", REDIS_URL=REDIS_URL)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser.new_page(base_url=server.url)
        browser.close()
    stop_daphne(server)


def test_it_logs_in_and_out_in_a_browser(charlie: User, browser_page: Page) -> None:
    page = browser_page
    page.goto("/")
    page.get_by_role("link", name="Log in").click()
    page.get_by_label("Username").fill("charlie")
    page.get_by_label("Password").fill("wrong")
    page.locator("#login").click()
    expect(page.get_by_role("alert")).to_contain_text("Please enter a correct username and password")
    page.get_by_label("Password").fill(PASSWORD)
    page.locator("#login").click()
    expect(page.locator(".topbar .user")).to_contain_text("charlie")
    assert page.url.endswith("/")
    page.locator("#logout").click()
    expect(page.locator(".topbar .user")).to_have_count(0)
    expect(page.get_by_role("link", name="Log in")).to_be_visible()
