"""The session page counts down, warns five minutes before the end, and extends where the playground allows."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from playwright.sync_api import Page, expect, sync_playwright
from pytest_django.live_server_helper import LiveServer

from sessions.models import Playground
from tests.conftest import Api


@contextmanager
def session_page(live_server: LiveServer, session_id: str) -> Iterator[Page]:
    """Open the page in Chromium; the ORM must not be used meanwhile, as Playwright runs an event loop."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        page = browser.new_page()
        page.goto(f"{live_server.url}/p/{session_id}")
        yield page
        browser.close()


def test_it_warns_five_minutes_before_the_end_and_extends(live: Playground, api: Api, live_server: LiveServer) -> None:
    live.session_duration = timedelta(minutes=30)
    live.max_session_duration = timedelta(hours=1)
    live.save()
    session_id = api.start(**{"session-duration": "4m"})

    with session_page(live_server, session_id) as page:
        expect(page.locator("#countdown")).to_have_class("countdown ending-soon")
        expect(page.locator("#expiry")).to_contain_text("ends in less than 5 minutes")

        page.get_by_role("button", name="Extend").click()

        expect(page.locator("#countdown")).to_have_text(re.compile(r"^0:29:5\d left$"))
        expect(page.locator("#countdown")).to_have_class("countdown")
        expect(page.locator("#expiry")).not_to_contain_text("less than 5 minutes")


def test_it_offers_no_extending_where_the_playground_does_not(
    live: Playground, api: Api, live_server: LiveServer
) -> None:
    session_id = api.start(**{"session-duration": "10m"})

    with session_page(live_server, session_id) as page:
        expect(page.locator("#countdown")).to_have_text(re.compile(r"^0:09:5\d left$"))
        expect(page.get_by_role("button", name="Extend")).to_be_hidden()
