"""A learner who clicks Start while the warm pool has a session lands on node1's prompt, no instance to add."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from sessions import warm
from sessions.models import Playground


@pytest.fixture
def warm_seat(live: Playground, monkeypatch: pytest.MonkeyPatch, settings: Any) -> None:
    """Boot one warm session, and size the pool at one for the Daphne the page fixture starts next."""
    monkeypatch.setenv("WARM_POOL_SIZE", "1")
    settings.WARM_POOL_SIZE = 1
    (reserved,), _ = warm.keep_warm()
    warm.boot(reserved)


def test_a_warm_start_shows_node1_with_a_working_terminal(warm_seat: None, page: Page) -> None:
    page.goto("/")
    page.click("#start")
    page.wait_for_url(re.compile(r"/p/\w+"))

    expect(page.locator("#detail-hostname")).to_have_text("node1", timeout=30_000)
    expect(page.locator(".pane.active .xterm-rows")).to_contain_text("[node1]", timeout=30_000)
    page.locator(".pane.active .xterm").click()
    page.keyboard.type("docker info --format 'ready {{.ServerVersion}}'")
    page.keyboard.press("Enter")
    expect(page.locator(".pane.active .xterm-rows")).to_contain_text(re.compile(r"ready \d+"), timeout=30_000)
