"""Two web processes serve one instance's terminal (as two Daphnes behind a load balancer do): a viewer on each
types into the same shell and sees the other's output, and the terminal is recorded once, not once per process."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect

from sessions import recordings
from sessions.models import Playground
from tests.daphne import start_daphne, stop_daphne
from tests.processes import wait_until
from tests.terminals.conftest import REDIS_URL
from tests.terminals.test_acceptance import Client, ws_url


@pytest.fixture
def webs(live: Playground, tmp_path: Path, settings: Any) -> Iterator[tuple[str, str]]:
    """Two Daphnes on the test database, one channel layer and one recordings folder; yield their URLs."""
    settings.RECORDINGS_DIR = tmp_path / "recordings"
    env = {"REDIS_URL": REDIS_URL, "TERMINAL_RECORDING": "true", "RECORDINGS_DIR": str(settings.RECORDINGS_DIR)}
    first = start_daphne(tmp_path / "first.log", **env)
    try:
        second = start_daphne(tmp_path / "second.log", **env)
    except BaseException:
        stop_daphne(first)
        raise
    yield first.url, second.url
    stop_daphne(second)
    stop_daphne(first)


async def test_viewers_on_two_web_processes_share_one_shell(webs: tuple[str, str], node: dict[str, Any]) -> None:
    name, session_id = node["name"], node["session_id"]
    async with connect(ws_url(webs[0], session_id)) as one, connect(ws_url(webs[1], session_id)) as other:
        alice, bob = Client(one), Client(other)
        async with asyncio.timeout(60):
            await alice.ready(name)
            # Bob's process attaches to a shell already running: it answers what he is sent from now on.
            await bob.until("instance terminal status")
            await alice.send("instance terminal in", name, "echo from-alice-$((6*7))\r")
            await bob.output_until(name, "from-alice-42\r\n")
            await bob.send("instance terminal in", name, "echo from-bob-$((7*6+1))\r")
            await alice.output_until(name, "from-bob-43\r\n")

    # Both processes read the tty; one of them records it (appending every FLUSH_SECONDS).
    def printed() -> str:
        """what the recording holds as printed"""
        events = recordings.path(session_id, name).read_text().splitlines()[1:]  # past the header, once written
        return "".join(data for _, kind, data in map(json.loads, events) if kind == "o")

    wait_until(lambda: "from-bob-43\r\n" in printed(), timeout=10)
    assert printed().count("from-alice-42\r\n") == 1
    assert printed().count("from-bob-43\r\n") == 1
