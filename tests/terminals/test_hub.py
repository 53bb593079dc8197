"""One hub per instance shares its tty: a viewer that breaks or a hub that stops never strands the others."""

import asyncio
from typing import Any

from engine.daemon import default
from terminals import hub
from tests.terminals.conftest import PROMPT


class Screen:
    """A viewer's side of the hub: what it has been sent, or a socket that fails when sent anything."""

    def __init__(self, broken: bool = False) -> None:
        self.text = ""
        self.broken = broken
        self.changed = asyncio.Event()

    async def send(self, name: str, args: list[Any]) -> None:
        if self.broken:
            raise ConnectionResetError("the viewer's socket is gone")
        if name == "instance terminal out":
            self.text += args[1]
            self.changed.set()

    async def until(self, needle: str, start: int = 0) -> None:
        async with asyncio.timeout(30):
            while needle not in self.text[start:]:
                self.changed.clear()
                await self.changed.wait()


async def test_it_keeps_serving_the_others_when_a_viewer_is_gone(node: dict[str, Any]) -> None:
    name = node["name"]
    alice, broken = Screen(), Screen(broken=True)
    viewer = await hub.join(default(), name, alice.send, acknowledged=False, size=None)
    await hub.join(default(), name, broken.send, acknowledged=False, size=None)
    await alice.until(PROMPT)
    await viewer.write("echo still-$((4+4))\r")
    await alice.until("still-8")
    await viewer.leave()


async def test_it_starts_a_new_hub_for_a_viewer_arriving_while_the_old_one_stops(
    node: dict[str, Any], settings: Any
) -> None:
    settings.TERMINAL_LINGER = 60
    name = node["name"]
    first = Screen()
    viewer = await hub.join(default(), name, first.send, acknowledged=False, size=None)
    await first.until(PROMPT)
    await viewer.write("echo before-$((1+1))\r")
    await first.until("before-2")
    await viewer.leave()
    stopping = hub._hubs[name]
    stopping._stop()  # the linger has run out
    second = Screen()
    viewer = await hub.join(default(), name, second.send, acknowledged=False, size=None)
    assert viewer.hub is not stopping
    # The recent output survives the old hub, once.
    await second.until("before-2")
    start = len(second.text)
    await viewer.write("echo after-$((2+2))\r")
    await second.until("after-4", start)
    assert second.text.count("before-2") == 1
    await hub.forget(name)
