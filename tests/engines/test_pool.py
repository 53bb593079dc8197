"""Two sandbox engines on this machine: sessions spread over both, each instance is reached on its own engine,
and one engine stopping ends only its own sessions, with a message (issue 17)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.utils import timezone
from docker.errors import NotFound

from engine import execs, sandboxes
from engine.daemon import Daemon, default
from sessions import engines, events, expiry
from sessions.models import Engine, Instance, Session
from terminals import hub
from tests.conftest import NOTHING, Api
from tests.engines.conftest import stop_second
from tests.gateway.conftest import Ssh, user_for
from tests.router.test_http_routing import curl, url
from tests.terminals.conftest import PROMPT
from tests.terminals.test_hub import Screen

Pool = tuple[Engine, Engine]


def on(session_id: str) -> Daemon:
    return Session.objects.select_related("engine").get(pk=session_id).daemon


def run(instance: dict[str, Any], script: str) -> tuple[int, str]:
    """Run a shell script in an instance, on the engine its session is on."""
    code, output = execs.exec_run(on(instance["session_id"]), instance["name"], ["sh", "-c", script])
    return code, output.decode(errors="replace")


def one_on_each(api: Api, pool: Pool) -> dict[str, dict[str, Any]]:
    """Start sessions until one is on each engine; return an instance of each, by engine name."""
    found: dict[str, dict[str, Any]] = {}
    for _ in range(4):
        session_id = api.start()
        name = Session.objects.get(pk=session_id).engine.name  # type: ignore[union-attr]
        if name not in found:
            found[name] = api.add(session_id)
    assert set(found) == {engine.name for engine in pool}, found
    return found


def test_ten_sessions_spread_over_both_engines(pool: Pool, api: Api) -> None:
    for _ in range(10):
        api.start()
    placed = sorted(Session.objects.values_list("engine__name", flat=True))
    assert placed == ["main"] * 5 + ["second"] * 5
    # Each session's network is on its own engine only, on a subnet no session of the other engine has.
    for session in Session.objects.select_related("engine"):
        other = default() if session.engine.name == "second" else Daemon(pool[1].url)  # type: ignore[union-attr]
        assert sandboxes.labelled_objects(session.daemon, session.id)["networks"]
        assert sandboxes.labelled_objects(other, session.id) == NOTHING
    subnets = [str(s) for d in (default(), Daemon(pool[1].url)) for s in sandboxes._used_subnets(d)]
    assert len(subnets) == len(set(subnets)), subnets


def test_each_instance_runs_on_its_sessions_engine_and_answers_there(pool: Pool, api: Api) -> None:
    for engine_name, instance in one_on_each(api, pool).items():
        daemon = on(instance["session_id"])
        assert daemon.url == Engine.objects.get(name=engine_name).url
        other = Daemon(pool[1].url) if engine_name == "main" else default()
        assert daemon.client().api.inspect_container(instance["name"])["State"]["Running"]
        with pytest.raises(NotFound):
            other.client().api.inspect_container(instance["name"])
        assert run(instance, "echo $((6*7))") == (0, "42\n")


async def test_the_terminal_of_each_engines_instance_echoes(pool: Pool, api: Api) -> None:
    instances = await sync_to_async(one_on_each)(api, pool)
    for instance in instances.values():
        screen = Screen()
        daemon = await sync_to_async(on)(instance["session_id"])
        viewer = await hub.join(daemon, instance["name"], screen.send, acknowledged=False, size=None)
        try:
            await screen.until(PROMPT)
            await viewer.write("echo pool-$((20+22))\r")
            await screen.until("pool-42")
        finally:
            await viewer.leave()
            await hub.forget(instance["name"])


def test_ssh_reaches_each_engines_instance(pool: Pool, api: Api, ssh: Ssh) -> None:
    for instance in one_on_each(api, pool).values():
        done = ssh.run(user_for(instance), "hostname")
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == instance["hostname"]


def test_the_router_reaches_each_engines_instance(pool: Pool, api: Api, router_port: int) -> None:
    for instance in one_on_each(api, pool).values():
        page = f"served-by-{instance['hostname']}-{instance['session_id'][:6]}"
        code, output = run(
            instance, f"mkdir -p /tmp/www && echo {page} > /tmp/www/index.html && busybox httpd -p 8080 -h /tmp/www"
        )
        assert code == 0, output
        # Whichever engine runs it, the router reaches the instance on its session network.
        assert curl(url(instance["proxy_host"], router_port, 8080)) == ("200", f"{page}\n")


def test_expiry_removes_each_engines_session_from_its_engine(pool: Pool, api: Api) -> None:
    for instance in one_on_each(api, pool).values():
        session_id = instance["session_id"]
        daemon = on(session_id)
        Session.objects.filter(pk=session_id).update(expires_at=timezone.now() - timedelta(seconds=1))
        expiry.end_if_due(session_id)
        assert Session.objects.get(pk=session_id).state == Session.State.ENDED
        assert sandboxes.labelled_objects(daemon, session_id) == NOTHING


def test_a_stopped_engine_ends_only_its_own_sessions_with_a_message(pool: Pool, api: Api, settings: Any) -> None:
    settings.ENGINE_DOWN_AFTER = 1
    instances = one_on_each(api, pool)
    lost, kept = instances["second"], instances["main"]

    async def stop_and_listen() -> dict[str, Any]:
        layer = get_channel_layer()
        assert layer is not None
        channel = await layer.new_channel()
        await layer.group_add(events.group_name(lost["session_id"]), channel)
        try:
            await asyncio.to_thread(stop_second)
            # Only that one: a main engine slow under load must not look down within this test's 1 s.
            second = await Engine.objects.aget(name="second")
            await sync_to_async(engines.check)(second)
            return dict(await asyncio.wait_for(layer.receive(channel), timeout=20))
        finally:
            await layer.group_discard(events.group_name(lost["session_id"]), channel)

    message = asyncio.run(stop_and_listen())

    assert message == events.event("session end", engines.DOWN_MESSAGE)
    assert "stopped answering" in engines.DOWN_MESSAGE
    ended = Session.objects.get(pk=lost["session_id"])
    assert (ended.state, ended.end_reason) == (Session.State.ENDED, engines.DOWN_REASON)
    assert Instance.objects.get(name=lost["name"]).state == Instance.State.GONE
    assert Engine.objects.get(name="second").state == "down"
    # The other engine's session goes on, and new sessions go there.
    assert Session.objects.get(pk=kept["session_id"]).is_live
    assert run(kept, "echo still-here") == (0, "still-here\n")
    assert Session.objects.get(pk=api.start()).engine.name == "main"  # type: ignore[union-attr]


def test_a_draining_engine_takes_no_new_session_and_keeps_its_own(pool: Pool, api: Api) -> None:
    instances = one_on_each(api, pool)
    Engine.objects.filter(name="second").update(draining=True)
    for _ in range(3):
        assert Session.objects.get(pk=api.start()).engine.name == "main"  # type: ignore[union-attr]
    assert run(instances["second"], "echo draining-but-alive") == (0, "draining-but-alive\n")
    second = instances["second"]["session_id"]
    # It may still add instances: its session lives there until it ends.
    assert api.add(second)["hostname"] == "node2"


def test_sessions_on_two_engines_cannot_reach_each_other(pool: Pool, api: Api) -> None:
    instances = one_on_each(api, pool)
    for mine, theirs in (("main", "second"), ("second", "main")):
        target = instances[theirs]["ip"]
        assert run(instances[mine], f"ping -c1 -W1 {target}")[0] != 0
        assert run(instances[mine], f"curl -s -m 2 http://{target}:2375")[0] != 0


def test_a_start_cannot_choose_its_engine(pool: Pool, api: Api) -> None:
    Engine.objects.filter(name="second").update(draining=True)
    second = str(pool[1].pk)
    session_id = api.start(engine="second", engine_id=second, engine_name="second", engine__name="second")
    assert Session.objects.get(pk=session_id).engine.name == "main"  # type: ignore[union-attr]
