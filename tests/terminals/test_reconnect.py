"""The shell outlives its viewers: a reconnect shows the recent screen once, and viewers share one shell."""

import asyncio
from typing import Any

from tests.terminals.conftest import PROMPT, Viewer, seen


async def test_it_shows_the_last_output_once_after_a_reconnect(node: dict[str, Any]) -> None:
    name = node["name"]
    async with Viewer(node["session_id"]) as first:
        await first.ready(name)
        await first.type(name, "export KEPT=yes; echo marker-$((40+2))\r")
        await first.output_until(name, "marker-42")
    async with Viewer(node["session_id"]) as again:
        await again.ready(name)
        await again.type(name, "echo kept=$KEPT end-$((1+2))\r")
        screen = await again.output_until(name, "end-3")
    assert seen(screen).count("marker-42") == 1
    assert "kept=yes" in screen


async def test_it_lets_two_viewers_type_into_one_shell(node: dict[str, Any]) -> None:
    name = node["name"]
    async with Viewer(node["session_id"]) as alice, Viewer(node["session_id"]) as bob:
        await asyncio.gather(alice.ready(name), bob.ready(name))
        await alice.type(name, "echo from-alice-$((1+1))\r")
        await bob.output_until(name, "from-alice-2")
        await bob.type(name, "echo from-bob-$((2+2))\r")
        await alice.output_until(name, "from-bob-4")


async def test_it_gives_a_fresh_shell_after_exit(node: dict[str, Any]) -> None:
    name = node["name"]
    async with Viewer(node["session_id"]) as viewer:
        await viewer.ready(name)
        await viewer.type(name, "exit\r")
        screen = await viewer.output_until(name, "a new one starts")
        start = len(screen)
        async with asyncio.timeout(30):
            while PROMPT not in viewer.screen[name][start:]:
                await viewer.event()
        await viewer.type(name, "echo again-$((3+3))\r")
        await viewer.output_until(name, "again-6")


async def test_it_sizes_a_shared_shell_to_the_smallest_viewer(node: dict[str, Any]) -> None:
    name = node["name"]
    async with Viewer(node["session_id"]) as narrow:
        await narrow.send("instance viewport resize", 90, 30)
        await narrow.ready(name)
        async with Viewer(node["session_id"]) as wide:
            await wide.send("instance viewport resize", 150, 50)
            await wide.ready(name)
            await wide.type(name, "clear; stty size | tr ' ' x\r")
            await wide.output_until(name, "30x90")
