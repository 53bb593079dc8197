"""A learner in Debian's chromium: start a session, add an instance, and use its terminal."""

from __future__ import annotations

import hashlib
import re

import pytest
from playwright.sync_api import Page, WebSocketRoute, expect

from sessions.models import Playground
from tests.router.conftest import BUILD_BUSYBOX


def screen(page: Page) -> str:
    return page.locator(".pane.active .xterm-rows").inner_text()


def run(page: Page, command: str, expect_text: str | re.Pattern[str], timeout: float = 30_000) -> None:
    page.keyboard.type(command)
    page.keyboard.press("Enter")
    expect(page.locator(".pane.active .xterm-rows")).to_contain_text(expect_text, timeout=timeout)


def start_with_a_node(page: Page) -> None:
    page.goto("/")
    page.click("#start")
    page.wait_for_url(re.compile(r"/p/\w+"))
    page.click("#add-instance")
    expect(page.locator("#detail-hostname")).to_have_text("node1", timeout=60_000)
    # The prompt names the node: the shell on the tty is up and reads what is typed.
    expect(page.locator(".pane.active .xterm-rows")).to_contain_text("[node1]", timeout=30_000)
    page.locator(".pane.active .xterm").click()


def test_it_answers_docker_info_in_a_new_instance(page: Page) -> None:
    start_with_a_node(page)
    expect(page.locator("#detail-ssh")).to_have_text(re.compile(r"^ssh ip10-\d+-\d+-\d+-\w+@\S+ -p 1022$"))
    assert page.evaluate("location.hash").startswith("#pg-")
    run(page, "docker info", "Server Version:")


def test_it_resizes_the_shell_with_the_window(page: Page) -> None:
    start_with_a_node(page)
    run(page, "clear; stty size | tr ' ' x", re.compile(r"\d+x\d+"))
    before = re.findall(r"(\d+)x(\d+)", screen(page))[-1]
    page.set_viewport_size({"width": 900, "height": 600})
    page.wait_for_timeout(500)
    run(page, "clear; stty size | sed 's/ /by/'", re.compile(r"\d+by\d+"))
    after = re.findall(r"(\d+)by(\d+)", screen(page))[-1]
    assert int(after[0]) < int(before[0]) and int(after[1]) < int(before[1])


def test_it_shows_earlier_output_once_after_a_reload(page: Page) -> None:
    start_with_a_node(page)
    run(page, "echo once-$((40+2))", "once-42")
    page.reload()
    expect(page.locator(".pane.active .xterm-rows")).to_contain_text("once-42", timeout=30_000)
    page.wait_for_timeout(1000)
    assert screen(page).count("once-42") == 1


def test_it_keeps_2000_fast_keystrokes_in_order(page: Page) -> None:
    start_with_a_node(page)
    text = "".join("abcdefghijklmnopqrstuvwxyz0123456789"[(n * 7) % 36] for n in range(2000))
    run(page, "cat > /tmp/typed", "cat > /tmp/typed")
    page.keyboard.type(text)
    page.keyboard.press("Enter")
    page.keyboard.press("Control+D")
    digest = hashlib.md5(text.encode() + b"\n").hexdigest()
    run(page, "clear; md5sum < /tmp/typed", digest)


def test_it_round_trips_unicode(page: Page) -> None:
    start_with_a_node(page)
    page.keyboard.insert_text("clear; echo ü 漢字 🐳 | od -An -c | tr -s ' '")
    page.keyboard.press("Enter")
    expect(page.locator(".pane.active .xterm-rows")).to_contain_text(
        "303 274 346 274 242 345 255 227 360 237 220 263", timeout=30_000
    )
    page.keyboard.insert_text("clear; echo ü 漢字 🐳")
    page.keyboard.press("Enter")
    expect(page.locator(".pane.active .xterm-rows")).to_contain_text(re.compile(r"^\s*ü 漢字 🐳"))


@pytest.fixture
def one_instance_per_session(live: Playground) -> None:
    # Before the browser starts: Playwright's event loop forbids the ORM in the test's thread.
    live.max_instances = 1
    live.save()


def test_it_explains_why_an_instance_cannot_be_added(one_instance_per_session: None, page: Page) -> None:
    start_with_a_node(page)
    page.click("#add-instance")
    expect(page.locator("#status.error")).to_have_text("a session may have at most 1 instances")
    expect(page.locator("#add-instance")).to_be_enabled()


def test_it_copies_the_selection_and_pastes_with_ctrl_shift_v(page: Page) -> None:
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    start_with_a_node(page)
    run(page, "clear; echo copy-me-$((3+4))", "copy-me-7")
    row = page.locator(".pane.active .xterm-rows > div", has_text=re.compile(r"^copy-me-7")).bounding_box()
    assert row is not None
    page.mouse.dblclick(row["x"] + 5, row["y"] + row["height"] / 2)  # a double click selects the word
    expect(page.locator("#toast")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == "copy-me-7"
    page.locator(".pane.active .xterm").click()
    page.keyboard.type("clear; echo pasted-")
    page.keyboard.press("Control+Shift+V")
    page.keyboard.press("Enter")
    expect(page.locator(".pane.active .xterm-rows")).to_contain_text(re.compile(r"\bpasted-copy-me-7\b"))


def test_it_pastes_with_shift_insert(page: Page) -> None:
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    start_with_a_node(page)
    page.evaluate("navigator.clipboard.writeText('from-$((2+3))')")
    page.keyboard.type("clear; echo pasted-")
    page.keyboard.press("Shift+Insert")
    page.keyboard.press("Enter")
    expect(page.locator(".pane.active .xterm-rows")).to_contain_text(re.compile(r"\bpasted-from-5\b"))


FULLSCREEN = (
    "document.fullscreenElement?.id === 'workspace'"
    " || document.getElementById('workspace').classList.contains('fullscreen')"
)


def test_it_toggles_fullscreen_with_alt_enter_and_the_terminal_keeps_working(page: Page) -> None:
    start_with_a_node(page)
    # Typed around the toggle: had Alt+Enter reached the shell, it would have run half a command.
    page.keyboard.type("clear; echo in-")
    page.keyboard.press("Alt+Enter")
    page.wait_for_function(FULLSCREEN)
    run(page, "fullscreen-$((1+1))", "in-fullscreen-2")
    page.keyboard.press("Alt+Enter")
    page.wait_for_function(f"!({FULLSCREEN})")
    run(page, "clear; echo back-$((2+2))", "back-4")


class FlakyNetwork:
    """Carry the page's session sockets to the server, until the test takes the network down."""

    def __init__(self, page: Page) -> None:
        self.sockets: list[WebSocketRoute] = []
        self.down = False
        page.route_web_socket(re.compile(r"/sessions/[^/]+/ws/"), self.carry)

    def carry(self, socket: WebSocketRoute) -> None:
        if self.down:
            socket.close()  # before it opens: the page sees a failed attempt and backs off
            return
        socket.connect_to_server()
        self.sockets.append(socket)

    def drop(self) -> None:
        self.down = True
        for socket in self.sockets:
            socket.close()

    def restore(self) -> None:
        self.down = False


def test_it_reconnects_after_the_socket_drops_and_shows_earlier_output_once(page: Page) -> None:
    network = FlakyNetwork(page)
    start_with_a_node(page)
    run(page, "clear; echo before-$((40+2))", "before-42")
    network.drop()
    expect(page.locator("#reconnecting")).to_be_visible()
    network.restore()
    expect(page.locator("#reconnecting")).to_be_hidden(timeout=30_000)
    expect(page.locator(".pane.active .xterm-rows")).to_contain_text("before-42")
    page.wait_for_timeout(1000)
    assert screen(page).count("before-42") == 1
    run(page, "echo after-$((40+3))", "after-43")


def test_it_changes_the_font_size_and_the_shell_follows(page: Page) -> None:
    start_with_a_node(page)
    run(page, "clear; stty size | tr ' ' x", re.compile(r"\d+x\d+"))
    before = re.findall(r"(\d+)x(\d+)", screen(page))[-1]
    page.select_option("#font-size", "20")
    page.locator(".pane.active .xterm").click()
    run(page, "clear; stty size | sed 's/ /by/'", re.compile(r"\d+by\d+"))
    after = re.findall(r"(\d+)by(\d+)", screen(page))[-1]
    assert int(after[0]) < int(before[0]) and int(after[1]) < int(before[1])


def test_it_opens_the_instance_named_in_the_link(page: Page) -> None:
    start_with_a_node(page)
    first = page.evaluate("location.hash")
    page.click("#add-instance")
    expect(page.locator("#detail-hostname")).to_have_text("node2", timeout=60_000)
    page.goto(page.url.split("#")[0] + first)
    expect(page.locator("#detail-hostname")).to_have_text("node1")
    expect(page.locator("li.active")).to_contain_text("node1")


def test_it_shows_a_badge_for_a_port_published_inside_and_removes_it_when_stopped(page: Page) -> None:
    start_with_a_node(page)
    run(
        page,
        f"{BUILD_BUSYBOX} && docker run -d --name web -p 8080:80 busybox httpd -f -p 80 && echo RUN''NING",
        "RUNNING",
    )
    badge = page.locator(".ports a.badge", has_text="8080")
    expect(badge).to_be_visible(timeout=5_000)
    assert (badge.get_attribute("href", timeout=1_000) or "").startswith("http://ip")

    run(page, "docker stop -t 0 web && echo STOP''PED", "STOPPED")
    expect(badge).to_have_count(0, timeout=5_000)
