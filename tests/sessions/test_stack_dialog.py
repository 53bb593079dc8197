"""A learner in Debian's chromium follows a stack's deploy in its dialog: output streaming, then ready or an error."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from sessions.models import Playground
from tests.daphne import start_daphne, stop_daphne
from tests.sessions.stackfiles import serving, worker
from tests.terminals.chromium import CHROMIUM, CHROMIUM_ARGS


@pytest.fixture
def site(live: Playground, mirror: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Serve the site with Daphne and one Celery worker, and stack files on loopback; yield (site, files host)."""
    with serving() as files, worker(tmp_path, files) as env:
        server = start_daphne(tmp_path / "daphne.log", **env)
        try:
            yield server.url, files
        finally:
            stop_daphne(server)


@pytest.fixture
def page(site: tuple[str, str]) -> Iterator[Page]:
    if not Path(CHROMIUM).exists():
        pytest.fail("no Debian chromium: run bin/setup --dev")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 1000}, base_url=site[0])
        yield context.new_page()
        browser.close()


def test_a_try_in_pwd_link_shows_the_deploy_streaming_then_ready(page: Page, site: tuple[str, str]) -> None:
    frames: list[Any] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda frame: frames.append(frame)))
    page.goto(f"/?stack=http://{site[1]}/stack.yml&stack_name=demo")
    expect(page.locator(".stack-link")).to_contain_text("stack.yml")
    page.click("#start")
    page.wait_for_url(re.compile(r"/p/\w+"))

    dialog = page.locator("#stack-dialog")
    expect(dialog).to_be_visible()
    expect(page.locator("#stack-status")).to_have_text("The stack is up.", timeout=120_000)
    expect(page.locator("#stack-spinner")).to_be_hidden()
    expect(page.locator("#stack-output")).to_contain_text("docker compose -p demo up -d")
    expect(page.locator("#stack-output")).to_contain_text(re.compile(r"Container demo-web-1\s+Started"))
    assert any('"session builder out"' in str(frame) for frame in frames)
    assert any('"session ready", "args": [true]' in str(frame) for frame in frames)
    expect(page.locator("#instance-list")).to_contain_text("node1")

    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    page.reload()
    page.wait_for_timeout(1000)
    expect(dialog).to_be_hidden()


def test_an_upload_that_fails_shows_the_error_and_closes(page: Page) -> None:
    page.goto("/")
    page.click("#start")
    page.wait_for_url(re.compile(r"/p/\w+"))

    page.click("#deploy-stack")
    page.click("#stack-form button[type=submit]")
    expect(page.locator("#stack-form-error")).to_have_text("the compose file is empty")

    page.fill("#stack-compose", "services: [not, a, mapping]\n")
    page.click("#stack-form button[type=submit]")
    expect(page.locator("#stack-spinner")).to_be_visible()
    status = page.locator("#stack-status")
    expect(status).to_have_text(re.compile(r"^The deploy failed: docker compose exited with \d+$"), timeout=120_000)
    expect(status).to_have_class(re.compile("error"))
    expect(page.locator("#stack-spinner")).to_be_hidden()
    expect(page.locator("#stack-output")).to_contain_text("services must be a mapping")

    page.reload()
    expect(page.locator("#stack-dialog")).to_be_visible()
    expect(status).to_contain_text("docker compose exited with")
    page.click(".stack-close")
    expect(page.locator("#stack-dialog")).to_be_hidden()
