"""PWD's SDK on a trainer's site: its calls, from another origin in Debian's chromium, reach a working terminal."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from sessions.models import Playground
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
def playground_url(live: Playground, trainer_site: str, tmp_path: Path) -> Iterator[str]:
    server = start_daphne(tmp_path / "daphne.log", REDIS_URL=REDIS_URL, CORS_ALLOWED_ORIGINS=trainer_site)
    yield server.url
    stop_daphne(server)


def test_the_sdk_gets_a_working_terminal_from_another_site(trainer_site: str, playground_url: str) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(f"{trainer_site}/sdk.html")
        result = page.evaluate(
            "([base, command]) => newSession(base, command)", [playground_url, "echo $((6*7)); cat /root/sdk-mark"]
        )
        browser.close()
    assert result["started"]["status"] == 200
    assert result["hostname"] == playground_url.removeprefix("http://"), "the port included"
    assert result["created"] == 200
    assert [answer["body"] for answer in result["execs"]] == [{"status_code": 0}, {"status_code": 3}]
    assert "42\r\nfrom-exec\r\n" in result["screen"], "the terminal ran the command, after exec left its mark"
