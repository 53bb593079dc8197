"""PWD's session WebSocket, spoken by an in-process viewer against the real engine."""

import asyncio
import hashlib
from typing import Any

from tests.conftest import sh
from tests.terminals.conftest import Viewer


async def test_it_runs_a_command_in_the_instance_terminal(node: dict[str, Any]) -> None:
    async with Viewer(node["session_id"]) as viewer:
        status = await viewer.ready(node["name"])
        assert status["args"] == [node["name"], "connect"]
        await viewer.type(node["name"], "echo $((6*7))\r")
        screen = await viewer.output_until(node["name"], "42\r\n")
        assert "echo $((6*7))" in screen


async def test_it_keeps_500_input_frames_in_order(node: dict[str, Any]) -> None:
    async with Viewer(node["session_id"]) as viewer:
        await viewer.ready(node["name"])
        await viewer.type(node["name"], "cat > /tmp/typed\r")
        for n in range(500):
            await viewer.type(node["name"], f"{n},")
        await viewer.type(node["name"], "\r\x04echo lines=$(tr -d '\\n' < /tmp/typed | md5sum | cut -c1-8)\r")
        expected = _md5(",".join(str(n) for n in range(500)) + ",")
        await viewer.output_until(node["name"], f"lines={expected}")


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()[:8]


async def test_it_applies_the_viewport_size_to_the_shell(node: dict[str, Any]) -> None:
    async with Viewer(node["session_id"]) as viewer:
        await viewer.send("instance viewport resize", 101, 37)
        await viewer.ready(node["name"])
        await viewer.type(node["name"], "stty size | tr ' ' x\r")
        await viewer.output_until(node["name"], "37x101")


async def test_it_round_trips_multibyte_characters(node: dict[str, Any]) -> None:
    async with Viewer(node["session_id"]) as viewer:
        await viewer.ready(node["name"])
        await viewer.type(node["name"], "echo ü 漢字 🐳 | od -An -tx1 | tr -d ' \\n'; echo\r")
        await viewer.output_until(node["name"], "c3bc20e6bca2e5ad9720f09f90b30a")
        # Output split at every byte still decodes: 2,000 whales across many reads, none replaced.
        await viewer.type(node["name"], "clear; printf '🐳%.0s' $(seq 2000); echo; echo end-$((1+1))\r")
        screen = await viewer.output_until(node["name"], "end-2")
        assert screen.count("🐳") >= 2000
        assert "\ufffd" not in screen


async def test_it_delivers_input_sent_just_before_the_viewer_leaves(node: dict[str, Any]) -> None:
    async with Viewer(node["session_id"]) as viewer:
        await viewer.ready(node["name"])
        await viewer.type(node["name"], "cat > /tmp/last-words\r")
        for _ in range(200):
            await viewer.type(node["name"], "x" * 20)
        await viewer.type(node["name"], "\r\x04")
    async with asyncio.timeout(10):
        while (await asyncio.to_thread(sh, node, "wc -c < /tmp/last-words"))[1].strip() != "4001":
            await asyncio.sleep(0.1)
