"""An instance whose container is removed behind the platform's back is marked gone, and viewers are told."""

from __future__ import annotations

import asyncio
from typing import Any

from channels_redis.core import RedisChannelLayer

from engine import sandboxes
from engine.daemon import default
from sessions import events, lifecycle
from sessions.models import Instance, Playground, Session
from tests.conftest import CELERY_REDIS_URL, Api
from tests.processes import Processes


async def remove_and_listen(session_id: str, name: str) -> dict[str, Any]:
    """Join the session's group as a browser's consumer does, remove the container, return the first event."""
    layer = RedisChannelLayer(hosts=[CELERY_REDIS_URL])
    channel = await layer.new_channel()
    await layer.group_add(events.group_name(session_id), channel)
    try:
        await asyncio.to_thread(sandboxes.remove_sandbox, default(), name)
        return dict(await asyncio.wait_for(layer.receive(channel), timeout=20))
    finally:
        await layer.group_discard(events.group_name(session_id), channel)
        await layer.close_pools()


def test_it_marks_a_vanished_instance_gone_and_tells_viewers(live: Playground, celery: Processes, api: Api) -> None:
    session_id = api.start()
    instance = api.add(session_id)

    message = asyncio.run(remove_and_listen(session_id, instance["name"]))

    assert message == events.event("instance delete", instance["name"])
    assert Instance.objects.get(name=instance["name"]).state == Instance.State.GONE
    assert instance["name"] not in api.get(session_id)["instances"]


def test_it_does_not_report_instances_of_an_ending_session(live: Playground, api: Api) -> None:
    session_id = api.start()
    instance = Instance.objects.get(name=api.add(session_id)["name"])
    Session.objects.filter(pk=session_id).update(state=Session.State.ENDING)
    sandboxes.remove_sandbox(default(), instance.name)

    lifecycle.forget_vanished(instance)

    assert Instance.objects.get(pk=instance.pk).state == Instance.State.RUNNING, "left for the ending to mark"
