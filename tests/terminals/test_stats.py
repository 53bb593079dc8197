"""Viewers are told each instance's CPU, memory and network every few seconds, from the host's engine, only while
someone views it, by one follower per instance whatever the number of viewers."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings as django_settings

from engine import usage
from engine.daemon import default
from sessions.models import Playground
from terminals import hub, stats
from tests.conftest import Api, sh
from tests.terminals.conftest import Viewer

MiB = 1024 * 1024
CPU = re.compile(r"\d+\.\d\d%")
MEM = re.compile(r"\d+\.\d\d% \(\d+(\.\d+)?(B|KiB|MiB|GiB) / \d+(\.\d+)?(B|KiB|MiB|GiB)\)")


async def figures(viewer: Viewer, instance: dict[str, Any], timeout: float = 30) -> dict[str, Any]:
    """Return the next `instance stats` figures of the instance."""
    async with asyncio.timeout(timeout):
        while True:
            for told in (await viewer.until("instance stats", timeout))["args"]:
                if told["instance"] == instance["name"]:
                    return dict(told)


async def figures_until(viewer: Viewer, instance: dict[str, Any], holds: Any, timeout: float = 30) -> dict[str, Any]:
    """Return the first figures of the instance for which holds(figures) is true."""
    async with asyncio.timeout(timeout):
        while not holds(found := await figures(viewer, instance, timeout)):
            pass
    return found


def in_background(instance: dict[str, Any], script: str) -> asyncio.Task[tuple[int, str]]:
    return asyncio.create_task(asyncio.to_thread(sh, instance, script))


async def test_viewers_are_told_each_instances_use_as_pwd_told_it(live: Playground, api: Api) -> None:
    session_id = await sync_to_async(api.start)()
    instance = await sync_to_async(api.add)(session_id)
    async with Viewer(session_id) as viewer:
        told = await figures(viewer, instance)
    assert set(told) == {
        *("instance", "cpu", "mem"),
        *("cpu_percent", "mem_bytes", "mem_limit_bytes", "rx_bytes_per_second", "tx_bytes_per_second"),
    }
    assert CPU.fullmatch(told["cpu"]) and MEM.fullmatch(told["mem"]), told
    assert told["mem_limit_bytes"] == live.memory_limit_mb * MiB
    assert 0 < told["mem_bytes"] < told["mem_limit_bytes"]


async def test_a_busy_instance_shows_its_cpu_memory_and_network(live: Playground, api: Api) -> None:
    session_id = await sync_to_async(api.start)()
    instance = await sync_to_async(api.add)(session_id)
    other = await sync_to_async(api.add)(session_id)
    async with Viewer(session_id) as viewer:
        idle = await figures(viewer, instance)
        busy = [
            in_background(instance, "timeout 12 sh -c 'while :; do :; done'"),
            # dd holds its 200 MiB block while sleep does not read it.
            in_background(instance, "timeout 12 sh -c 'dd if=/dev/zero bs=200M count=1 | sleep 11'"),
            in_background(instance, f"ping -q -c 1000 -i 0.01 -s 1400 {other['ip']}"),
        ]
        told = await figures_until(
            viewer,
            instance,
            lambda f: (
                f["cpu_percent"] > 30
                and f["mem_bytes"] > idle["mem_bytes"] + 150 * MiB
                and min(f["rx_bytes_per_second"], f["tx_bytes_per_second"]) > 50_000
            ),
        )
        assert told["cpu_percent"] <= 100 * (await usage.usage(default(), instance["name"], 5)).cpus
    # Told: the load has done its part.
    await asyncio.to_thread(sh, instance, "pkill -f '^timeout 12 '; pkill -x ping")
    await asyncio.gather(*busy)


async def test_nothing_asks_the_engine_while_nobody_views(
    live: Playground, api: Api, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert not [entry for entry in django_settings.CELERY_BEAT_SCHEDULE.values() if "stat" in entry["task"]]
    # The hub outlives its viewers (it keeps the recent output); following the figures must not.
    settings.TERMINAL_LINGER = 60
    monkeypatch.setattr(hub, "PORTS_LINGER_SECONDS", 0.5)
    monkeypatch.setattr(stats, "SECONDS", 0.2)
    asked = 0
    ask = usage.usage

    async def counted(*args: Any) -> usage.Usage:
        nonlocal asked
        asked += 1
        return await ask(*args)

    monkeypatch.setattr(usage, "usage", counted)
    instance = await sync_to_async(api.add)(await sync_to_async(api.start)())
    told: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def page(name: str, args: list[Any]) -> None:
        if name == "instance stats":
            await told.put(args[0])

    try:
        viewer = await hub.join(default(), instance["name"], page, acknowledged=False, size=None)
        await asyncio.wait_for(told.get(), 10)
        await viewer.leave()
        await asyncio.sleep(1.0)
        stopped = asked
        await asyncio.sleep(2.0)  # ten samples' time
        assert asked == stopped
        assert not hub._hubs[instance["name"]].closed
    finally:
        await hub.forget(instance["name"])


async def test_one_follower_serves_every_viewer(live: Playground, api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stats, "SECONDS", 0.5)
    follows, asked = 0, 0
    follow, ask = stats.follow, usage.usage

    async def counted_follow(*args: Any) -> None:
        nonlocal follows
        follows += 1
        await follow(*args)

    async def counted_ask(*args: Any) -> usage.Usage:
        nonlocal asked
        asked += 1
        return await ask(*args)

    monkeypatch.setattr(stats, "follow", counted_follow)
    monkeypatch.setattr(usage, "usage", counted_ask)
    session_id = await sync_to_async(api.start)()
    instance = await sync_to_async(api.add)(session_id)
    async with Viewer(session_id) as first, Viewer(session_id) as second, Viewer(session_id) as third:
        for viewer in (first, second, third):
            await figures(viewer, instance)
        counted_from, before = time.monotonic(), asked
        for _ in range(4):
            await figures(third, instance)
        seconds = time.monotonic() - counted_from
    assert follows == 1
    # One sample each SECONDS, whatever the number of viewers.
    assert asked - before <= seconds / 0.5 + 2


async def test_figures_come_back_after_the_sandbox_restarts(
    live: Playground, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stats, "RETRY_SECONDS", (0.5,))
    session_id = await sync_to_async(api.start)()
    instance = await sync_to_async(api.add)(session_id)
    async with Viewer(session_id) as viewer:
        await figures(viewer, instance)
        # Its counters start again from zero: nothing went backwards, nothing failed for good.
        await asyncio.to_thread(default().client().api.restart, instance["name"], timeout=0)
        restarted = time.monotonic()
        while time.monotonic() - restarted < 5:
            told = await figures(viewer, instance)
    assert 0 <= told["cpu_percent"] <= 200 and told["mem_bytes"] > 0
    assert told["rx_bytes_per_second"] >= 0 and told["tx_bytes_per_second"] >= 0
