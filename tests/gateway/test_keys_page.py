"""The session page has a form where a learner registers the public key for PWD's short ssh user names."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Browser, expect, sync_playwright
from pytest_django.live_server_helper import LiveServer

from gateway.models import AuthorizedKey
from sessions.models import Playground, Session


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> Iterator[Browser]:
    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls are still synchronous.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        yield launched
        launched.close()


def test_it_registers_and_removes_a_key_on_the_session_page(
    browser: Browser, live_server: LiveServer, playground: Playground, tmp_path: Path
) -> None:
    session = Session.objects.create(playground=playground, expires_at=timezone.now() + timedelta(hours=1))
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "alice@laptop", "-f", str(tmp_path / "k")], check=True
    )
    page = browser.new_page()
    page.goto(f"{live_server.url}/p/{session.id}")
    page.get_by_text("SSH keys").click()
    page.get_by_label("Public key").fill("not a key")
    page.get_by_role("button", name="Add key").click()
    expect(page.locator("#ssh-keys .status")).to_contain_text("not an OpenSSH public key")

    page.get_by_label("Public key").fill((tmp_path / "k.pub").read_text())
    page.get_by_role("button", name="Add key").click()
    expect(page.locator("#ssh-keys ul.keys")).to_contain_text("alice@laptop")
    assert AuthorizedKey.objects.get(session=session).comment == "alice@laptop"

    page.get_by_role("button", name="Remove").click()
    expect(page.locator("#ssh-keys ul.keys li")).to_have_count(0)
    assert not AuthorizedKey.objects.filter(session=session).exists()
