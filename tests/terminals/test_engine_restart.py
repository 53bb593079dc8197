"""A terminal survives a restart of the sandbox engine: the shell keeps running and the viewer is attached again."""

import asyncio
from typing import Any

from tests.conftest import restart_engine
from tests.terminals.conftest import Viewer


async def test_it_reattaches_a_terminal_after_the_engine_restarts(node: dict[str, Any]) -> None:
    name = node["name"]
    async with Viewer(node["session_id"]) as viewer:
        await viewer.ready(name)
        await viewer.type(name, "export KEPT=yes; echo before-$((40+2))\r")
        await viewer.output_until(name, "before-42")

        await asyncio.to_thread(restart_engine)

        async with asyncio.timeout(60):
            while (await viewer.until("instance terminal status"))["args"][1] != "reconnect":
                pass
        await viewer.type(name, "echo after-$((1+2)) kept=$KEPT\r")
        await viewer.output_until(name, "after-3 kept=yes")
