"""The session WebSocket refuses unknown and ended sessions with codes a page can explain."""

import asyncio
from typing import Any

from django.test import Client

from sessions.models import Playground
from terminals.consumers import CLOSE_SESSION_ENDED, CLOSE_UNKNOWN_SESSION
from tests.conftest import Api
from tests.terminals.conftest import Viewer


async def test_it_refuses_an_unknown_session(transactional_db: None) -> None:
    async with Viewer("nosuchsession") as viewer:
        assert await viewer.event() == {"name": "close", "args": [CLOSE_UNKNOWN_SESSION]}


def test_it_tells_viewers_the_session_ended(live: Playground, api: Api, client: Client) -> None:
    session_id = api.start()

    async def watch_it_end() -> None:
        async with Viewer(session_id) as viewer:
            await asyncio.to_thread(client.post, f"/sessions/{session_id}/close")
            assert (await viewer.until("session end"))["args"] == []
            assert await viewer.event() == {"name": "close", "args": [CLOSE_SESSION_ENDED]}
        async with Viewer(session_id) as late:
            assert (await late.event())["name"] == "session end"
            assert await late.event() == {"name": "close", "args": [CLOSE_SESSION_ENDED]}

    asyncio.run(watch_it_end())


def test_it_attaches_instances_added_while_watching(live: Playground, api: Api) -> None:
    session_id = api.start()

    async def watch_one_arrive() -> dict[str, Any]:
        async with Viewer(session_id) as viewer:
            node = await asyncio.to_thread(api.add, session_id)
            new = await viewer.until("instance new")
            assert new["args"][0] == node["name"]
            await viewer.ready(node["name"])
            await viewer.type(node["name"], "hostname\r")
            await viewer.output_until(node["name"], "\r\nnode1\r\n")
            return node

    asyncio.run(watch_one_arrive())
