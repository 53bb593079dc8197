"""A viewer that acknowledges output never has more than a window of it in flight; the shell keeps going."""

import asyncio
from typing import Any

from terminals.flow import RECENT_BYTES, UNACKNOWLEDGED_RATE, WINDOW_BYTES, Window
from terminals.hub import CLEAR, FRAME_BYTES, STALL_SECONDS
from tests.terminals.conftest import Viewer


async def test_it_closes_the_window_at_its_limit_and_reopens_on_acknowledgement() -> None:
    window = Window(acknowledged=True)
    window.sent(WINDOW_BYTES - 10)
    window.sent(20)
    assert not window.is_open()
    window.acknowledge(1)
    assert window.is_open()


async def test_it_assumes_a_viewer_that_does_not_acknowledge_takes_a_steady_rate() -> None:
    window = Window(acknowledged=False)
    window.sent(WINDOW_BYTES + UNACKNOWLEDGED_RATE // 10)
    assert not window.is_open()
    assert 0.1 <= window.seconds_to_open() <= 0.12
    await asyncio.sleep(window.seconds_to_open())
    assert window.is_open()


async def test_it_stops_sending_until_the_viewer_acknowledges(node: dict[str, Any]) -> None:
    name = node["name"]
    async with Viewer(node["session_id"], query="flow=ack") as viewer:
        await viewer.ready(name)
        # Sixteen windows' worth: enough to show the shell keeps going, little enough to read quickly.
        await viewer.type(name, f"yes flood | head -c {16 * WINDOW_BYTES}; echo done-$((2+5))\r")
        in_flight, frames = 0, 0
        # Without acknowledgements the server stops at the window: read until its output goes quiet (other
        # events, such as stats, keep coming), well within STALL_SECONDS.
        await viewer.until("instance terminal out")
        loop = asyncio.get_running_loop()
        last_out = loop.time()
        while loop.time() - last_out < 2:
            if await viewer.ws.receive_nothing(0.2):
                continue
            event = await viewer.event()
            if event["name"] == "instance terminal out":
                in_flight += len(event["args"][1].encode())
                frames += 1
                last_out = loop.time()
        assert 0 < in_flight <= WINDOW_BYTES + FRAME_BYTES
        # Acknowledge as we go and the rest arrives.
        await viewer.send("instance terminal ack", name, frames)
        tail = ""
        while "done-7" not in tail:
            event = await viewer.event()
            if event["name"] == "instance terminal out":
                tail = (tail + event["args"][1])[-64:]
                await viewer.send("instance terminal ack", name, 1)


async def test_it_stops_waiting_for_a_viewer_that_never_acknowledges(node: dict[str, Any]) -> None:
    name = node["name"]
    async with Viewer(node["session_id"], query="flow=ack") as frozen, Viewer(node["session_id"]) as live:
        await frozen.ready(name)
        await live.ready(name)
        # The frozen tab fills its window and holds the shell back for STALL_SECONDS, then no longer.
        await live.type(name, "yes flood | head -c 3000000; echo done-$((3+5))\r")
        async with asyncio.timeout(STALL_SECONDS + 30):
            while "done-8" not in live.screen.get(name, ""):
                await live.event()
        # It gets the recent output once it acknowledges again, not the megabytes it missed.
        await frozen.send("instance terminal ack", name, 10**6)
        screen = await frozen.output_until(name, "done-8")
        assert len(screen) < WINDOW_BYTES + FRAME_BYTES + 2 * RECENT_BYTES
        assert len(screen) - screen.rindex(CLEAR) <= RECENT_BYTES + 200
