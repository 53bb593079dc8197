"""Ports published inside an instance reach its viewers from the instance engine's events; nothing polls."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings

from engine import inner
from engine.daemon import default
from sessions.models import Playground
from terminals import hub, ports
from tests.conftest import Api, sh
from tests.router.conftest import with_busybox
from tests.router.test_docker_machine import driver_body, make_machine_certs
from tests.terminals.conftest import PortsViewer, publish_web


async def engine_of(instance: dict[str, Any]) -> inner.InstanceEngine:
    engine = await ports.instance_engine(instance["name"])
    assert engine is not None
    return engine


async def test_it_finds_ports_published_by_containers(live: Playground, api: Api) -> None:
    instance = await sync_to_async(api.add)(await sync_to_async(api.start)())
    engine = await engine_of(instance)
    assert await inner.published_ports(engine, 5) == []
    await sync_to_async(with_busybox)(instance)
    await sync_to_async(publish_web)(instance, "8080:80", "9000-9002:9000-9002")
    await sync_to_async(publish_web)(instance, "127.0.0.1:3000:80")
    assert await inner.published_ports(engine, 5) == [3000, 8080, 9000, 9001, 9002]


async def test_it_finds_ports_of_swarm_services(live: Playground, api: Api) -> None:
    instance = await sync_to_async(api.add)(await sync_to_async(api.start)())
    await sync_to_async(with_busybox)(instance)
    code, output = await sync_to_async(sh)(instance, f"docker swarm init --advertise-addr {instance['ip']} >/dev/null")
    assert code == 0, output
    create = "docker service create -d -q --name web -p 8088:80 busybox httpd -f -p 80"
    code, output = await sync_to_async(sh)(instance, create)
    assert code == 0, output
    assert 8088 in await inner.published_ports(await engine_of(instance), 5)


async def test_it_tells_a_viewer_when_a_port_is_published_and_when_it_goes(
    live: Playground, api: Api, viewing: Any
) -> None:
    assert not [entry for entry in settings.CELERY_BEAT_SCHEDULE.values() if "port" in entry["task"]]
    instance = await sync_to_async(api.add)(await sync_to_async(api.start)())
    await sync_to_async(with_busybox)(instance)
    viewer = await viewing(instance)
    await viewer.until([])

    await sync_to_async(publish_web)(instance, "8080:80", name="web")
    published = time.monotonic()
    assert await viewer.until([8080]) - published < 5

    await sync_to_async(sh)(instance, "docker stop -t 0 web")
    stopped = time.monotonic()
    assert await viewer.until([]) - stopped < 5

    # Again at once: the rings of what the looks already covered do not slow the next badge down.
    for publish, shown in (("8081:80", [8081]), ("8082:80", [8081, 8082])):
        await sync_to_async(publish_web)(instance, publish)
        published = time.monotonic()
        assert await viewer.until(shown) - published < 5


async def test_a_viewer_who_joins_later_is_told_at_once(live: Playground, api: Api, viewing: Any) -> None:
    instance = await sync_to_async(api.add)(await sync_to_async(api.start)())
    await sync_to_async(with_busybox)(instance)
    await sync_to_async(publish_web)(instance, "8080:80")
    first = await viewing(instance)
    await first.until([8080])

    joined = time.monotonic()
    assert await (await viewing(instance)).until([8080]) - joined < 0.5


async def test_a_page_reloaded_finds_the_ports_known_and_the_engine_is_not_asked_again(
    live: Playground, api: Api, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.TERMINAL_LINGER = 60
    follows = 0
    follow_engine = ports.follow_engine

    async def counted(*args: Any) -> None:
        nonlocal follows
        follows += 1
        await follow_engine(*args)

    monkeypatch.setattr(ports, "follow_engine", counted)
    instance = await sync_to_async(api.add)(await sync_to_async(api.start)())
    await sync_to_async(with_busybox)(instance)
    await sync_to_async(publish_web)(instance, "8080:80")
    try:
        for _ in range(5):
            page = PortsViewer()
            viewer = await hub.join(default(), instance["name"], page.send, acknowledged=False, size=None)
            await page.until([8080])
            await viewer.leave()
    finally:
        await hub.forget(instance["name"])
    assert follows == 1


async def test_it_follows_a_docker_machine_instance_whose_ca_lacks_its_last_newline(
    live: Playground, api: Api, tmp_path: Path
) -> None:
    session_id = await sync_to_async(api.start)()
    make_machine_certs(tmp_path, f"pwdmachine1-{session_id[:8]}-2375.localhost")
    (tmp_path / "ca.pem").write_text((tmp_path / "ca.pem").read_text().rstrip())
    instance = await sync_to_async(api.add)(session_id, driver_body(tmp_path, "machine1"))
    assert await inner.published_ports(await engine_of(instance), 5) == []
