"""The session page turns `instance docker ports` events into links, opens any port, and shows laptop lines."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from playwright.sync_api import Page, sync_playwright
from pytest_django.live_server_helper import LiveServer

from sessions.models import Playground
from tests.conftest import Api


@pytest.fixture
def instance(live: Playground, api: Api) -> dict[str, Any]:
    # Made before the browser starts: Playwright's loop then runs in this thread, where the ORM refuses to.
    return api.add(api.start())


@pytest.fixture
def page() -> Iterator[Page]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        yield browser.new_page()
        browser.close()


def announce(page: Page, instance: dict[str, Any], ports: list[int]) -> None:
    """Dispatch the event as the session page does for each WebSocket message."""
    detail = {"name": "instance docker ports", "args": [{"instance": instance["name"], "ports": ports}]}
    page.evaluate(f"document.dispatchEvent(new CustomEvent('pwd:event', {{detail: {json.dumps(detail)}}}))")


def port_url(instance: dict[str, Any], port: int) -> str:
    return f"http://{instance['proxy_host']}-{port}.direct.localhost:{settings.ROUTER_PUBLIC_PORT}/"


def test_it_links_published_ports_and_opens_any_port(
    instance: dict[str, Any], live_server: LiveServer, page: Page
) -> None:
    page.goto(f"{live_server.url}/p/{instance['session_id']}")
    badges = page.locator(f'[data-name="{instance["name"]}"] a.badge')
    # The page's own WebSocket may announce the instance's real ports (none) just after ours: announce again until
    # ours are the last word (it flaked in CI reading the badges once).
    deadline = time.monotonic() + 15
    while True:
        announce(page, instance, [8080, 9000])
        page.wait_for_timeout(200)
        if badges.all_inner_texts() == ["8080", "9000"] or time.monotonic() > deadline:
            break
    assert badges.all_inner_texts() == ["8080", "9000"]
    assert badges.first.get_attribute("href") == port_url(instance, 8080)

    announce(page, instance, [3000])
    assert badges.all_inner_texts() == ["3000"]

    # No router listens in this test: answer the opened address in the browser itself.
    page.context.route("**/*.direct.localhost*/**", lambda route: route.fulfill(body="port 5000"))
    page.once("dialog", lambda dialog: dialog.accept("5000"))
    with page.expect_popup() as popup:
        page.get_by_role("button", name="Open port").click()
    assert popup.value.url == port_url(instance, 5000)


def test_it_shows_how_to_connect_from_a_laptop(instance: dict[str, Any], live_server: LiveServer, page: Page) -> None:
    page.goto(f"{live_server.url}/p/{instance['session_id']}")
    page.get_by_text("Connect from your laptop").click()
    lines = page.locator(".laptop pre")
    lines.first.wait_for()
    text = "\n".join(lines.all_inner_texts())
    assert f"export DOCKER_HOST=tcp://{instance['proxy_host']}-2375.direct.localhost:" in text
    assert "docker context create" in text
    link = page.get_by_role("link", name="Download the TLS bundle")
    assert link.get_attribute("href") == f"/sessions/{instance['session_id']}/instances/{instance['name']}/docker.zip"
