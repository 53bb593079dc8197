"""Ports published inside an instance, by containers and swarm services, are found and told to its viewers."""

from __future__ import annotations

import asyncio
from typing import Any

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer

from router import ports
from sessions import events
from sessions.models import Playground
from tests.conftest import Api, sh
from tests.router.conftest import with_busybox


def publish_web(instance: dict[str, Any], *publish: str) -> None:
    flags = " ".join(f"-p {p}" for p in publish)
    code, output = sh(instance, f"docker run -d {flags} busybox httpd -f -p 80")
    assert code == 0, output


def test_it_finds_ports_published_by_containers(live: Playground, api: Api) -> None:
    instance = api.add(api.start())
    assert ports.published_ports(instance["name"]) == []
    with_busybox(instance)
    publish_web(instance, "8080:80", "9000-9002:9000-9002")
    publish_web(instance, "127.0.0.1:3000:80")
    assert ports.published_ports(instance["name"]) == [3000, 8080, 9000, 9001, 9002]


def test_it_finds_ports_of_swarm_services(live: Playground, api: Api) -> None:
    instance = api.add(api.start())
    with_busybox(instance)
    code, output = sh(instance, f"docker swarm init --advertise-addr {instance['ip']} >/dev/null")
    assert code == 0, output
    code, output = sh(instance, "docker service create -d -q --name web -p 8088:80 busybox httpd -f -p 80")
    assert code == 0, output
    assert 8088 in ports.published_ports(instance["name"])


async def test_it_tells_the_sessions_viewers(live: Playground, api: Api) -> None:
    instance = await sync_to_async(api.add)(await sync_to_async(api.start)())
    await sync_to_async(with_busybox)(instance)
    await sync_to_async(publish_web)(instance, "8080:80")
    layer = get_channel_layer()
    assert layer is not None
    viewer = await layer.new_channel()
    await layer.group_add(events.group_name(instance["session_id"]), viewer)

    await sync_to_async(ports.announce_ports)()

    message = await asyncio.wait_for(layer.receive(viewer), timeout=10)
    assert message == events.event("instance docker ports", {"instance": instance["name"], "ports": [8080]})
