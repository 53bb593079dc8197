"""A learner replays their terminal in Debian's chromium, and finds the download beside it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from sessions import recordings
from sessions.models import Playground
from tests.daphne import start_daphne, stop_daphne
from tests.processes import wait_until
from tests.terminals.conftest import REDIS_URL
from tests.terminals.test_browser import run, start_with_a_node


@pytest.fixture
def recordings_dir(settings: Any, tmp_path: Path) -> Path:
    settings.RECORDINGS_DIR = tmp_path / "recordings"
    return Path(settings.RECORDINGS_DIR)


@pytest.fixture
def daphne_url(live: Playground, tmp_path: Path, recordings_dir: Path) -> Iterator[str]:
    """Serve the site as conftest's daphne_url does, recording into this test's folder."""
    server = start_daphne(tmp_path / "daphne.log", REDIS_URL=REDIS_URL, RECORDINGS_DIR=str(recordings_dir))
    yield server.url
    stop_daphne(server)


def test_it_replays_what_the_terminal_showed(page: Page) -> None:
    start_with_a_node(page)
    run(page, "echo replayed-$((6*7))", "replayed-42")
    session_id = page.url.split("/p/")[1].split("#")[0]
    name = page.evaluate("location.hash").lstrip("#")
    replay = page.locator("#replay-instance")
    expect(replay).to_have_attribute("href", f"/p/{session_id}/replay/{name}")
    expect(page.locator("#download-recording")).to_have_attribute(
        "href", f"/sessions/{session_id}/instances/{name}/recording"
    )
    recording = recordings.path(session_id, name)

    def flushed() -> bool:
        """the recording holds the command's output"""
        return recording.exists() and "replayed-42\\r\\n" in recording.read_text()

    wait_until(flushed, timeout=10)
    page.goto(replay.get_attribute("href") or "")
    expect(page.locator("#replay")).to_have_attribute("data-state", "ready", timeout=10_000)
    page.click("[data-speed='4']")
    page.click("#replay-play")
    expect(page.locator("#replay")).to_have_attribute("data-state", "ended", timeout=30_000)
    expect(page.locator("#replay-screen .xterm-rows")).to_contain_text(re.compile(r"replayed-42"))
    expect(page.locator("#replay-play")).to_have_text("Replay")
