"""The session WebSocket handles one message at a time, in the order it came: what that promises a viewer.

The terminals here are stand-ins that take a while to type into or resize, as a busy shell and the engine do,
so a consumer that handled messages side by side would let a later one overtake an earlier one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from channels.layers import get_channel_layer
from django.utils import timezone

from engine.daemon import Daemon
from sessions import events
from sessions.models import Instance, Playground, Session
from terminals import hub
from terminals.consumers import CLOSE_SESSION_ENDED
from tests.terminals.conftest import Viewer


class Terminal:
    """An instance's terminal as the consumer sees it, writing down what it is asked to do."""

    def __init__(self, instance: str, done: list[tuple[Any, ...]]) -> None:
        self.instance = instance
        self.done = done
        self.typing_allowed = asyncio.Event()
        self.typing_allowed.set()

    async def write(self, data: str) -> None:
        await self.typing_allowed.wait()
        await asyncio.sleep(0.001 * (len(data) % 3))  # some input takes longer to write than other
        self.done.append(("in", self.instance, data))

    async def resize(self, cols: int, rows: int) -> None:
        await asyncio.sleep(0.002)
        self.done.append(("size", self.instance, cols, rows))

    async def acknowledge(self, frames: int) -> None:
        self.done.append(("ack", self.instance, frames))

    async def leave(self) -> None:
        self.done.append(("leave", self.instance))


@pytest.fixture
def terminals(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Stand in for the hubs: joining tells the viewer the terminal is connected, as a hub does."""
    joined: dict[str, Any] = {"done": [], "by_name": {}}

    async def join(
        daemon: Daemon,
        instance: str,
        send: Callable[..., Any],
        *,
        acknowledged: bool,
        size: Any,
        session: str | None = None,
    ) -> Terminal:
        terminal = joined["by_name"][instance] = Terminal(instance, joined["done"])
        await send("instance terminal status", [instance, "connect"])
        return terminal

    async def forget(instance: str) -> None:
        pass

    monkeypatch.setattr(hub, "join", join)
    monkeypatch.setattr(hub, "forget", forget)
    return joined


@pytest.fixture
def session_id(transactional_db: None, playground: Playground) -> str:
    """A live session with one running instance, node1, and no sandbox behind it."""
    session = Session.objects.create(playground=playground, expires_at=timezone.now() + timedelta(hours=1))
    Instance.objects.create(
        session=session, name=f"{session.id[:8]}_node1", hostname="node1", image="x", state=Instance.State.RUNNING
    )
    return session.id


async def until_done(done: list[tuple[Any, ...]], count: int) -> None:
    async with asyncio.timeout(10):
        while len(done) < count:
            await asyncio.sleep(0.01)


async def test_it_writes_a_viewers_input_in_the_order_sent(session_id: str, terminals: dict[str, Any]) -> None:
    node = f"{session_id[:8]}_node1"
    async with Viewer(session_id) as viewer:
        assert (await viewer.event())["args"] == [node, "connect"]
        for n in range(300):
            await viewer.type(node, str(n))
        await until_done(terminals["done"], 300)
    assert terminals["done"][:300] == [("in", node, str(n)) for n in range(300)]


async def test_it_resizes_before_writing_the_input_sent_after_the_resize(
    session_id: str, terminals: dict[str, Any]
) -> None:
    node = f"{session_id[:8]}_node1"
    sent: list[tuple[Any, ...]] = []
    async with Viewer(session_id) as viewer:
        await viewer.event()
        for n in range(50):
            await viewer.type(node, f"{n}a")
            await viewer.send("instance viewport resize", 80 + n, 24 + n)
            await viewer.type(node, f"{n}bb")
            await viewer.send("instance terminal ack", node, n)
            sent += [("in", node, f"{n}a"), ("size", node, 80 + n, 24 + n), ("in", node, f"{n}bb"), ("ack", node, n)]
        await until_done(terminals["done"], len(sent))
    assert terminals["done"][: len(sent)] == sent


async def test_it_announces_an_instance_before_its_terminal_and_ends_with_the_close(
    session_id: str, terminals: dict[str, Any]
) -> None:
    layer, group = get_channel_layer(), events.group_name(session_id)
    async with Viewer(session_id) as viewer:
        await viewer.event()
        await layer.group_send(group, events.event("instance new", "other_node2"))
        assert await viewer.event() == {"name": "instance new", "args": ["other_node2"]}
        assert await viewer.event() == {"name": "instance terminal status", "args": ["other_node2", "connect"]}
        await layer.group_send(group, events.event("instance delete", "other_node2"))
        assert await viewer.event() == {"name": "instance delete", "args": ["other_node2"]}
        await layer.group_send(group, events.event("session end"))
        assert await viewer.event() == {"name": "session end", "args": []}
        assert await viewer.event() == {"name": "close", "args": [CLOSE_SESSION_ENDED]}
    assert ("leave", "other_node2") in terminals["done"]


async def test_it_holds_a_session_event_until_the_input_before_it_is_written(
    session_id: str, terminals: dict[str, Any]
) -> None:
    node = f"{session_id[:8]}_node1"
    async with Viewer(session_id) as viewer:
        await viewer.event()
        typing = terminals["by_name"][node].typing_allowed
        typing.clear()  # the shell is not reading its input
        await viewer.type(node, "held")
        await get_channel_layer().group_send(events.group_name(session_id), events.event("instance new", "later"))
        assert await viewer.ws.receive_nothing(0.5)
        typing.set()
        assert await viewer.event() == {"name": "instance new", "args": ["later"]}
    assert terminals["done"][0] == ("in", node, "held")
