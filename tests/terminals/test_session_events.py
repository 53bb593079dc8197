"""The session WebSocket follows its session: refusals, ending, instances coming and going, activity."""

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from sessions import events
from sessions.models import Playground, Session
from terminals import hub
from terminals.consumers import CLOSE_SESSION_ENDED, CLOSE_UNKNOWN_SESSION, SessionConsumer
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
            await viewer.output_until(node["name"], "\rnode1\r\n")
            return node

    asyncio.run(watch_one_arrive())


def test_it_ends_the_session_on_session_close(live: Playground, api: Api) -> None:
    session_id = api.start()

    async def close_it() -> None:
        async with Viewer(session_id) as viewer:
            await viewer.send("session close")
            await viewer.until("session end")
            assert await viewer.event() == {"name": "close", "args": [CLOSE_SESSION_ENDED]}

    asyncio.run(close_it())
    assert Session.objects.get(pk=session_id).state == Session.State.ENDED


def test_it_detaches_from_a_deleted_instance(live: Playground, api: Api, client: Client) -> None:
    session_id = api.start()
    node = api.add(session_id)

    async def watch_it_go() -> None:
        async with Viewer(session_id) as viewer:
            await viewer.ready(node["name"])
            url = f"/sessions/{session_id}/instances/{node['name']}"
            await asyncio.to_thread(client.delete, url)
            assert (await viewer.until("instance delete"))["args"] == [node["name"]]
            # Detached: nothing more arrives for it, no "reconnect" to a container that is gone.
            assert await viewer.ws.receive_nothing(2)

    asyncio.run(watch_it_go())


def test_it_records_activity_on_input(live: Playground, api: Api) -> None:
    session_id = api.start()
    node = api.add(session_id)
    long_ago = timezone.now() - timedelta(hours=1)
    Session.objects.filter(pk=session_id).update(last_activity_at=long_ago)

    async def type_something() -> None:
        async with Viewer(session_id) as viewer:
            await viewer.ready(node["name"])
            await viewer.type(node["name"], "true\r")
            await viewer.output_until(node["name"], "true")

    asyncio.run(type_something())
    assert Session.objects.get(pk=session_id).last_activity_at > long_ago


def test_it_handles_no_event_after_the_viewer_leaves(
    live: Playground, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    session_id = api.start()
    handled: list[str] = []
    leave = SessionConsumer.disconnect

    async def leave_as_an_instance_arrives(consumer: SessionConsumer, code: int) -> None:
        # The event reaches the consumer while it is handling the disconnect (a fixed pause: nothing observable
        # says it has arrived).
        await consumer.channel_layer.group_send(events.group_name(session_id), events.event("instance new", "x"))
        await asyncio.sleep(0.3)
        await leave(consumer, code)

    async def session_event(consumer: SessionConsumer, message: dict[str, Any]) -> None:
        handled.append(message["name"])

    monkeypatch.setattr(SessionConsumer, "disconnect", leave_as_an_instance_arrives)
    monkeypatch.setattr(SessionConsumer, "session_event", session_event)

    async def come_and_go() -> None:
        async with Viewer(session_id):
            pass
        await asyncio.sleep(0.3)  # room for a wrongly handled event to show; a right outcome gives no sign to await

    asyncio.run(come_and_go())
    assert handled == []


async def test_it_leaves_the_terminals_when_a_handler_fails(
    node: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def fail(consumer: SessionConsumer, cols: Any, rows: Any) -> None:
        raise RuntimeError("a bug in a handler")

    monkeypatch.setattr(SessionConsumer, "_resize", fail)
    viewer = Viewer(node["session_id"])
    await viewer.__aenter__()
    await viewer.ready(node["name"])
    shared = hub._hubs[node["name"]]
    await viewer.send("instance viewport resize", 80, 24)
    with pytest.raises(RuntimeError):
        await viewer.ws.wait(10)
    # disconnect() never ran, yet the viewer has left: nobody holds the hub, which stops.
    assert shared.viewers == []
    assert shared.closed
