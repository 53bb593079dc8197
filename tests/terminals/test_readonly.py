"""A read-only viewer (a trainer watching a learner, ?readonly=1) sees the terminals and changes nothing."""

from typing import Any

from django.test import Client

from sessions.models import Session
from tests.terminals.conftest import Viewer

MUTATING = ["add-instance", "open-settings", "deploy-stack", "templates", "ssh-keys", "open-editor", "delete-instance"]


async def test_a_read_only_viewer_cannot_type_resize_or_close(node: dict[str, Any]) -> None:
    session_id, name = node["session_id"], node["name"]
    async with Viewer(session_id, query="flow=ack&readonly=1") as watcher:
        await watcher.ready(name)
        await watcher.send("instance viewport resize", 55, 23)
        await watcher.type(name, "echo typed-by-the-watcher-$((6*7))\r")
        await watcher.send("session close")
        async with Viewer(session_id) as learner:
            await learner.ready(name)
            await learner.type(name, "stty size | tr ' ' x; echo done-$((1+1))\r")
            screen = await learner.output_until(name, "done-2\r\n")
        # What the learner's shell echoed, the watcher sees too: it is only watching, not typing.
        await watcher.output_until(name, "done-2\r\n")
    assert "typed-by-the-watcher-42" not in screen and "23x55" not in screen
    assert await Session.objects.filter(pk=session_id, state=Session.State.ACTIVE).aexists()


def test_the_read_only_page_offers_nothing_that_changes_the_session(node: dict[str, Any], client: Client) -> None:
    page = client.get(f"/p/{node['session_id']}?readonly=1").content.decode()
    assert 'data-readonly="1"' in page and 'id="readonly"' in page
    assert not [button for button in MUTATING + ["close-session"] if f'id="{button}"' in page]
    full = client.get(f"/p/{node['session_id']}").content.decode()
    assert "data-readonly" not in full and all(f'id="{button}"' in full for button in MUTATING)
