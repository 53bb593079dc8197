"""Issue 16's acceptance in Debian's chromium: a trainer, a warm pool set up 1 + 1, two learners, the dashboard."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect, sync_playwright

from sessions import recordings, warm
from sessions.models import Playground, Session
from tests.conftest import wait_until_ended
from tests.daphne import start_daphne, stop_daphne
from tests.processes import wait_until
from tests.terminals.chromium import CHROMIUM, CHROMIUM_ARGS
from tests.terminals.conftest import REDIS_URL
from tests.workshops.conftest import PASSWORD, workshop_of
from workshops import pooling
from workshops.models import Workshop

ONE_PLUS_ONE = json.dumps({"instances": [{"is_swarm_manager": True}, {"is_swarm_worker": True}]})


@pytest.fixture
def recordings_dir(settings: Any, tmp_path: Path) -> Path:
    settings.RECORDINGS_DIR = tmp_path / "recordings"
    return Path(settings.RECORDINGS_DIR)


@pytest.fixture
def browser(
    live: Playground, tmp_path: Path, recordings_dir: Path, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Browser, str]]:
    # Sync Playwright runs an event loop in this thread; the test's own ORM calls are plain blocking ones.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    settings.WARM_POOL_BOOTS_AT_ONCE = 3
    server = start_daphne(tmp_path / "daphne.log", REDIS_URL=REDIS_URL, RECORDINGS_DIR=str(recordings_dir))
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium, server.url
        chromium.close()
    stop_daphne(server)


def new_page(browser: tuple[Browser, str]) -> Page:
    """A page in a browser of its own (its own cookies): a trainer or a learner."""
    chromium, url = browser
    return chromium.new_context(viewport={"width": 1400, "height": 1000}, base_url=url).new_page()


def log_in(trainer: Page) -> None:
    trainer.goto("/accounts/login/?next=/workshops/")
    trainer.get_by_label("Username").fill("bob")
    trainer.get_by_label("Password").fill(PASSWORD)
    trainer.locator("#login").click()
    trainer.wait_for_url(re.compile(r"/workshops/$"))


def create_workshop(trainer: Page) -> Workshop:
    log_in(trainer)
    now = timezone.now()
    trainer.fill("#id_title", "Swarm 101")
    trainer.fill("#id_seats", "3")
    trainer.fill("#id_starts_at", f"{now - timedelta(minutes=1):%Y-%m-%d %H:%M:%S}")
    trainer.fill("#id_ends_at", f"{now + timedelta(hours=2):%Y-%m-%d %H:%M:%S}")
    trainer.fill("#id_session_length", "01:00:00")
    trainer.fill("#id_template", ONE_PLUS_ONE)
    trainer.fill("#id_warm_pool", "3")
    trainer.click("#create")
    trainer.wait_for_url(re.compile(r"/workshops/\d+/$"))
    return Workshop.objects.get(code=trainer.locator("#join-code").inner_text())


def fill_pool(workshop: Workshop) -> str:
    """Do what the beat and the worker do: reserve the pool's sessions and boot them with the template."""
    reserved, _ = warm.keep_warm()
    assert len(reserved) == 3
    for session_id in reserved:
        warm.boot(session_id)
    key = pooling.spec_of(workshop).key
    assert Session.objects.warm(key).ready(2).count() == 3
    return key


def join(learner: Page, code: str, name: str) -> str:
    learner.goto("/w/")
    learner.fill("#code", code)
    learner.click("#go")
    learner.fill("#name", name)
    learner.click("#join")
    learner.wait_for_url(re.compile(r"/p/\w+"))
    expect(learner.locator("#instance-list li")).to_have_count(2, timeout=30_000)
    learner.click("#instance-list li[data-hostname='node1'] button")
    expect(learner.locator(".pane.active .xterm-rows")).to_contain_text("[node1]", timeout=30_000)
    return learner.url.split("/p/")[1].split("#")[0].split("?")[0]


def test_a_trainer_runs_a_room_of_two(bob: User, browser: tuple[Browser, str]) -> None:
    trainer = new_page(browser)
    workshop = create_workshop(trainer)
    key = fill_pool(workshop)

    ada, grace = new_page(browser), new_page(browser)
    ada_session = join(ada, workshop.code, "Ada")
    grace_session = join(grace, workshop.code, "Grace")
    assert Session.objects.warm(key).count() == 1  # both learners took a session set up ahead

    # A template's nodes are set up concurrently, so the page may open on either: pick node1 on both pages.
    ada.locator("#instance-list li", has_text="node1").click()
    ada.locator(".pane.active .xterm").click()
    ada.keyboard.type("echo typed-by-ada-$((6*7))")
    ada.keyboard.press("Enter")
    expect(ada.locator(".pane.active .xterm-rows")).to_contain_text("typed-by-ada-42", timeout=30_000)

    rows = trainer.locator("#seats tr")
    expect(rows).to_have_count(2, timeout=15_000)
    expect(trainer.locator("#seats .learner")).to_have_text(["Ada", "Grace"])

    watch = trainer.locator("#seats tr[data-seat]", has_text="Ada").locator("a.watch")
    expect(watch).to_have_attribute("href", f"/p/{ada_session}?readonly=1")
    take_over = trainer.locator("#seats tr[data-seat]", has_text="Ada").locator("a.take-over")
    expect(take_over).to_have_attribute("href", f"/p/{ada_session}")
    viewer = new_page(browser)
    viewer.context.add_cookies(trainer.context.cookies())  # type: ignore[arg-type]
    viewer.goto(watch.get_attribute("href") or "")
    expect(viewer.locator("#readonly")).to_be_visible()
    viewer.locator("#instance-list li", has_text="node1").click()
    expect(viewer.locator(".pane.active .xterm-rows")).to_contain_text("typed-by-ada-42", timeout=30_000)

    node1 = Session.objects.get(pk=ada_session).instances.get(hostname="node1").name
    recording = recordings.path(ada_session, node1)
    wait_until(lambda: recording.exists() and "typed-by-ada-42" in recording.read_text(), timeout=10)
    replay = trainer.locator("#seats tr[data-seat]", has_text="Ada").get_by_role("link", name="replay node1")
    viewer.goto(replay.get_attribute("href") or "")
    expect(viewer.locator("#replay")).to_have_attribute("data-state", "ready", timeout=10_000)
    viewer.click("[data-speed='4']")
    viewer.click("#replay-play")
    expect(viewer.locator("#replay")).to_have_attribute("data-state", "ended", timeout=30_000)
    expect(viewer.locator("#replay-screen .xterm-rows")).to_contain_text("typed-by-ada-42")

    trainer.fill("#broadcast-text", "Break until 11:00")
    trainer.click("#broadcast")
    expect(grace.locator("#broadcast")).to_contain_text("Break until 11:00", timeout=10_000)
    expect(ada.locator("#broadcast")).to_contain_text("Break until 11:00", timeout=10_000)

    trainer.click("#end-all")
    wait_until_ended(ada_session)
    wait_until_ended(grace_session)
    expect(trainer.locator("#seats .state")).to_have_text(["ended", "ended"], timeout=15_000)
    assert recording.exists()  # kept for the trainer until the workshop is deleted


LESSON = """Welcome to the lesson.

## Write the answer
```run
echo lesson-$((6*7)) > /root/answer; cat /root/answer
```
```check
grep -q lesson-42 /root/answer
```
"""


def test_a_learner_runs_a_lesson_step_and_its_check_turns_green(
    bob: User, live: Playground, browser: tuple[Browser, str]
) -> None:
    workshop = workshop_of(bob, live, instances=1, lesson=LESSON)
    trainer = new_page(browser)
    log_in(trainer)
    trainer.goto(f"/workshops/{workshop.pk}/")

    ada = new_page(browser)
    ada.goto(f"/w/{workshop.code}")
    ada.fill("#name", "Ada")
    ada.click("#join")
    ada.wait_for_url(re.compile(r"/p/\w+"))
    expect(ada.locator(".pane.active .xterm-rows")).to_contain_text("[node1]", timeout=30_000)
    step = ada.locator("#lesson .step[data-step='0']")
    expect(step).to_contain_text("Write the answer")
    expect(ada.locator("#lesson")).not_to_contain_text("grep -q")  # the check is not shown

    step.locator("button.check").click()
    expect(step).to_have_attribute("data-state", "failed", timeout=15_000)
    expect(trainer.locator("#seats .progress")).to_contain_text("0/1 ✗", timeout=15_000)

    step.locator("button.run").click()
    expect(ada.locator(".pane.active .xterm-rows")).to_contain_text("lesson-42", timeout=15_000)
    step.locator("button.check").click()
    expect(step).to_have_attribute("data-state", "passed", timeout=15_000)
    expect(step.locator(".verdict")).to_have_text("✓ Done")
    expect(trainer.locator("#seats .progress")).to_contain_text("1/1 ✓", timeout=15_000)
