"""The settings dialog picks the image "+ Add new instance" runs, from GET /instances/images, per session."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import Page, expect, sync_playwright

from engine import images
from engine.daemon import default
from sessions.models import Playground
from tests.terminals.chromium import CHROMIUM, CHROMIUM_ARGS


@pytest.fixture
def second_image(live: Playground) -> Iterator[str]:
    """Offer a second image: another tag of the sandbox image (nothing else is built here)."""
    repository, tag = "playground/dind", f"settings-test-{os.getpid()}"
    default().client().api.tag(settings.SANDBOX_IMAGE, repository, tag)
    live.extra_images = [f"{repository}:{tag}"]
    live.save()
    yield f"{repository}:{tag}"
    images.remove_image(default(), f"{repository}:{tag}")


@pytest.fixture
def page(second_image: str, daphne_url: str) -> Iterator[Page]:
    if not Path(CHROMIUM).exists():
        pytest.fail("no Debian chromium: run bin/setup --dev")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 1000}, base_url=daphne_url)
        yield context.new_page()
        browser.close()


def pick(page: Page, image: str) -> None:
    page.click("#open-settings")
    expect(page.locator("#settings-dialog")).to_be_visible()
    page.select_option("#settings-image", image)
    page.click("#settings-save")
    expect(page.locator("#settings-dialog")).to_be_hidden()


def test_an_instance_added_after_picking_an_image_runs_that_image(page: Page, second_image: str) -> None:
    page.goto("/")
    page.click("#start")
    page.wait_for_url(re.compile(r"/p/\w+"))
    session_id = page.url.rsplit("/", 1)[1].split("#")[0]
    page.click("#open-settings")
    expect(page.locator("#settings-image option")).to_have_text([f"{settings.SANDBOX_IMAGE} (default)", second_image])
    page.keyboard.press("Escape")
    pick(page, second_image)

    page.click("#add-instance")
    expect(page.locator("#detail-hostname")).to_have_text("node1", timeout=60_000)
    (node,) = page.request.get(f"/sessions/{session_id}").json()["instances"].values()
    assert node["image"] == second_image
    assert default().client().api.inspect_container(node["name"])["Config"]["Image"] == second_image

    # Remembered for this session across a reload; the default again once picked.
    page.reload()
    page.click("#open-settings")
    expect(page.locator("#settings-image")).to_have_value(second_image)
    page.keyboard.press("Escape")
    pick(page, settings.SANDBOX_IMAGE)
    page.click("#add-instance")
    expect(page.locator("#detail-hostname")).to_have_text("node2", timeout=60_000)
    instances = page.request.get(f"/sessions/{session_id}").json()["instances"].values()
    assert {i["hostname"]: i["image"] for i in instances} == {"node1": second_image, "node2": settings.SANDBOX_IMAGE}


def test_an_image_no_longer_offered_is_forgotten(page: Page, second_image: str) -> None:
    page.goto("/")
    page.click("#start")
    page.wait_for_url(re.compile(r"/p/\w+"))
    session_id = page.url.rsplit("/", 1)[1].split("#")[0]
    page.evaluate(f"localStorage.setItem('playground.image.{session_id}', 'evil/image:latest')")
    page.reload()
    expect(page.locator("#add-instance")).to_have_attribute("title", f"New instances run {settings.SANDBOX_IMAGE}")
    assert page.evaluate(f"localStorage.getItem('playground.image.{session_id}')") is None
