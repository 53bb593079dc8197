"""A learner in Debian's chromium drops files onto a terminal and edits one in the editor panel."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from sessions.models import Playground
from tests.conftest import sh
from tests.daphne import start_daphne, stop_daphne
from tests.terminals.chromium import CHROMIUM, CHROMIUM_ARGS
from tests.terminals.conftest import REDIS_URL
from tests.terminals.test_browser import run, start_with_a_node

# A drop as the browser makes it when files are dragged from the desktop: a DataTransfer holding File objects.
DROP = """([names, megabytes]) => {
  const transfer = new DataTransfer();
  names.forEach((name, n) => {
    const size = n === 0 ? megabytes * 1024 * 1024 : 0;
    const data = size ? new Uint8Array(size).fill(97) : new TextEncoder().encode(`dropped ${name}\\n`);
    transfer.items.add(new File([data], name));
  });
  const target = document.querySelector(".pane.active");
  for (const type of ["dragenter", "dragover", "drop"]) {
    target.dispatchEvent(new DragEvent(type, { dataTransfer: transfer, bubbles: true, cancelable: true }));
  }
}"""


def node(on: Page) -> dict[str, str]:
    """The instance whose terminal is shown (Playwright's loop in this thread rules the ORM out)."""
    return {"name": str(on.locator(".pane.active").get_attribute("data-name"))}


def test_files_dropped_on_a_terminal_land_where_the_shell_stands(page: Page) -> None:
    start_with_a_node(page)
    run(page, "mkdir -p /srv/drop && cd /srv/drop && echo in-$PWD", "in-/srv/drop")
    page.evaluate("window.progressSeen = 0")
    page.evaluate(
        """() => new MutationObserver(() => {
             if (!document.querySelector('.upload-progress').hidden) window.progressSeen += 1;
           }).observe(document.querySelector('.upload-progress'), { attributes: true })"""
    )
    page.evaluate(DROP, [["big.bin", "small.txt"], 60])
    expect(page.locator(".files-notice")).to_contain_text("Uploaded /srv/drop/big.bin, /srv/drop/small.txt")
    assert page.evaluate("window.progressSeen") > 0
    assert page.locator("progress[aria-label='Upload progress']").get_attribute("max") == "100"
    assert page.evaluate("document.querySelector('.upload-progress progress').value") == 100
    assert sh(node(page), "wc -c < /srv/drop/big.bin; cat /srv/drop/small.txt")[1] == "62914560\ndropped small.txt\n"


def test_a_failed_upload_says_why(page: Page) -> None:
    start_with_a_node(page)
    run(page, "cd /proc && echo in-$PWD", "in-/proc")
    page.evaluate(DROP, [["x.txt"], 0])
    expect(page.locator(".files-notice.error")).to_contain_text("Upload failed: could not write /proc/x.txt")


def test_the_editor_opens_edits_and_saves_a_file(page: Page) -> None:
    start_with_a_node(page)
    sh(
        node(page),
        "mkdir -p /root/app && printf 'port: 80\\n' > /root/app/config.yml && head -c 100 /dev/urandom > /root/blob",
    )
    page.click("#open-editor")
    editor = page.locator(".editor")
    expect(editor).to_be_visible()
    editor.locator("summary", has_text="app/").click()
    editor.locator(".editor-file", has_text="config.yml").click()
    expect(editor.locator(".editor-text")).to_have_value("port: 80\n")
    editor.locator(".editor-text").fill("port: 8080\n")
    editor.locator("button", has_text="Save").click()
    expect(page.locator(".files-notice")).to_contain_text("Saved /root/app/config.yml")
    assert sh(node(page), "cat /root/app/config.yml")[1] == "port: 8080\n"

    editor.locator(".editor-file", has_text="blob").click()
    expect(editor.locator(".editor-error")).to_contain_text(re.compile("binary file|not UTF-8"))
    # The terminal shrank beside the panel and still works.
    page.locator(".pane.active .xterm").click()
    run(page, "cat /root/app/config.yml", "port: 8080")

    # PWD's editor page: the same panel alone, open from the start.
    session = page.locator("#session").get_attribute("data-session")
    page.goto(f"/sessions/{session}/instances/{node(page)['name']}/editor")
    editor.locator("summary", has_text="app/").click()
    editor.locator(".editor-file", has_text="config.yml").click()
    expect(editor.locator(".editor-text")).to_have_value("port: 8080\n")


@pytest.fixture
def capped_page(live: Playground, tmp_path: Path) -> Iterator[Page]:
    """The page served by a Daphne that takes uploads of at most 1 MiB."""
    server = start_daphne(tmp_path / "daphne.log", REDIS_URL=REDIS_URL, UPLOAD_MAX_BYTES=str(1024 * 1024))
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            context = browser.new_context(viewport={"width": 1400, "height": 1000}, base_url=server.url)
            yield context.new_page()
            browser.close()
    finally:
        stop_daphne(server)


def test_a_drop_past_the_size_limit_says_so(capped_page: Page) -> None:
    start_with_a_node(capped_page)
    capped_page.evaluate(DROP, [["huge.bin"], 5])
    expect(capped_page.locator(".files-notice.error")).to_contain_text("limited to 1048576 bytes")
