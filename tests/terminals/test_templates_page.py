"""The session page's Templates set up PWD's swarms through POST /setup, with a progress row per node."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from sessions.models import Playground

# Records every state each progress row goes through, in order.
FOLLOW_ROWS = """() => {
  window.states = {};
  new MutationObserver((changes) => changes.forEach(({ target }) => {
    const row = target.closest && target.closest("li[data-hostname]");
    if (!row) return;
    const seen = (window.states[row.dataset.hostname] ||= []);
    if (seen.at(-1) !== row.dataset.state) seen.push(row.dataset.state);
  })).observe(document.getElementById("templates"), { subtree: true, attributes: true, childList: true });
}"""


def start(page: Page) -> None:
    page.goto("/")
    page.click("#start")
    page.wait_for_url(re.compile(r"/p/\w+"))
    page.evaluate(FOLLOW_ROWS)
    page.click("#templates summary")


def test_it_sets_up_three_managers_and_two_workers_showing_each_node(page: Page) -> None:
    start(page)
    page.click("text=3 Managers and 2 Workers")
    expect(page.locator("#templates .status")).to_have_text("3 Managers and 2 Workers: ready.", timeout=90_000)
    hostnames = ["manager1", "manager2", "manager3", "worker1", "worker2"]
    for hostname in hostnames:
        assert page.evaluate(f"window.states['{hostname}']")[-2:] == ["starting", "ready"]
    expect(page.locator("#instance-list li")).to_have_count(5)
    assert sorted(page.locator("#instance-list li strong").all_inner_texts()) == hostnames  # in order of arrival
    expect(page.locator("#templates details")).to_be_hidden()
    page.locator("#instance-list li", has_text="manager1").click()
    page.locator(".pane.active .xterm").click()
    page.keyboard.type("docker node ls --format '{{.Hostname}}={{.Status}}' | sort | tr '\\n' ' '")
    page.keyboard.press("Enter")
    ready = " ".join(f"{hostname}=Ready" for hostname in hostnames)
    expect(page.locator(".pane.active .xterm-rows")).to_contain_text(ready, timeout=30_000)


@pytest.fixture
def two_instances_per_session(live: Playground) -> None:
    # Before the browser starts: Playwright's event loop forbids the ORM in the test's thread.
    live.max_instances = 2
    live.save()


def test_it_marks_every_node_failed_and_says_why_when_refused(two_instances_per_session: None, page: Page) -> None:
    start(page)
    page.click("text=5 Managers and no workers")
    expect(page.locator("#templates .status.error")).to_have_text(
        "a session may have at most 2 instances; this asks for 5", timeout=30_000
    )
    expect(page.locator("#templates li[data-state=failed]")).to_have_count(5)
    expect(page.locator("#instance-list li")).to_have_count(0)
    expect(page.locator("#templates details")).to_be_visible()
