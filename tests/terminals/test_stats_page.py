"""The session page shows each instance's CPU, memory and network, with a sparkline, from `instance stats`."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.terminals.test_browser import run, start_with_a_node


def sparkline_points(page: Page, kind: str) -> int:
    points = page.locator(f"#instance-list .stats polyline.{kind}").get_attribute("points") or ""
    return len(points.split())


def test_it_shows_an_instances_use_and_its_history(page: Page) -> None:
    start_with_a_node(page)
    stats = page.locator("#instance-list li[data-name] .stats")
    expect(stats.locator(".use")).to_have_text(re.compile(r"^CPU \d+\.\d% · \d+(\.\d)? MiB$"), timeout=15_000)
    expect(stats.locator(".net")).to_have_text(re.compile(r"^↓ \d+(\.\d)? \w+/s ↑ \d+(\.\d)? \w+/s$"))
    assert "Memory" in (stats.get_attribute("title") or "")

    run(page, "(timeout 30 sh -c 'while :; do :; done' &)", "done' &)")
    expect(stats.locator(".use")).to_have_text(re.compile(r"^CPU ([3-9]\d|\d{3})\.\d%"), timeout=15_000)
    page.wait_for_function(
        "document.querySelector('#instance-list .stats polyline.cpu').getAttribute('points').split(' ').length >= 3",
        timeout=15_000,
    )
    assert sparkline_points(page, "cpu") == sparkline_points(page, "mem")
