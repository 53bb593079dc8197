"""A pool of engines: each session is placed on the one with the most free memory; draining, disabled and down
engines take none; one that stops answering ends its own sessions with a message (issue 17)."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import Client
from django.utils import timezone

from engine.daemon import Daemon
from sessions import engines, lifecycle, pools, reconcile, recordings, warm
from sessions.models import Engine, Instance, Playground, Session
from tests.conftest import Api, at_once

GIB = 2**30
XHR = {"x-requested-with": "XMLHttpRequest"}


def dead_url(tmp_path: Path, name: str = "dead") -> str:
    return f"unix://{tmp_path}/{name}.sock"  # nothing listens there


def test_without_engines_a_session_goes_on_the_default_one_from_settings(live: Playground, api: Api) -> None:
    assert not Engine.objects.exists()
    session = Session.objects.get(pk=api.start())
    assert session.engine is not None
    assert (session.engine.name, session.engine.url) == ("default", settings.SANDBOX_ENGINE)
    assert session.engine.memory_bytes > 0
    assert Engine.objects.count() == 1


def test_a_session_started_by_the_code_from_before_engines_runs_on_the_default_one(playground: Playground) -> None:
    session = Session.objects.create(playground=playground, expires_at=timezone.now())
    # As a web process still on the old code writes it while the upgrade migrates.
    Session.objects.filter(pk=session.pk).update(engine=None)
    assert Session.objects.get(pk=session.pk).daemon.url == settings.SANDBOX_ENGINE
    assert Session.objects.get(pk=session.pk).engine == Engine.default()


def test_a_session_goes_where_most_memory_is_free(playground: Playground, tmp_path: Path) -> None:
    small = Engine.objects.create(name="small", url=dead_url(tmp_path, "small"), memory_bytes=1 * GIB)
    big = Engine.objects.create(name="big", url=dead_url(tmp_path, "big"), memory_bytes=2 * GIB)
    assert engines.place() == big
    # Sessions there (each counted at one instance at least while it has none) take its room.
    per = engines.per_instance_bytes()
    for _ in range(GIB // per + 1):
        Session.objects.create(playground=playground, engine=big, expires_at=timezone.now())
    assert engines.place() == small


@pytest.mark.parametrize("closed", [{"draining": True}, {"enabled": False}, {"down_since": timezone.now()}], ids=str)
def test_no_session_goes_to_a_draining_disabled_or_down_engine(
    playground: Playground, tmp_path: Path, closed: dict[str, object]
) -> None:
    Engine.objects.create(name="closed", url=dead_url(tmp_path, "closed"), memory_bytes=64 * GIB, **closed)
    open_ = Engine.objects.create(name="open", url=dead_url(tmp_path, "open"), memory_bytes=1 * GIB)
    assert engines.place() == open_


def test_warm_sessions_waiting_on_a_draining_engine_are_retired_so_the_pool_fills_elsewhere(
    playground: Playground, tmp_path: Path, settings: object
) -> None:
    settings.WARM_POOL_SIZE = 1  # type: ignore[attr-defined]
    draining = Engine.objects.create(name="draining", url=dead_url(tmp_path), memory_bytes=GIB, draining=True)
    key = pools.public(playground).key
    waiting = Session.objects.create(playground=playground, engine=draining, expires_at=timezone.now(), pool=key)

    _, retiring = warm.keep_warm()

    assert (waiting.pk, "its engine takes no new sessions") in retiring


def test_a_start_is_refused_with_a_message_when_no_engine_takes_it(client: Client, playground: Playground) -> None:
    Engine.objects.create(name="only", url=settings.SANDBOX_ENGINE, memory_bytes=GIB, draining=True)
    response = client.post("/", headers=XHR)
    assert response.status_code == 503
    assert response.json()["error"] == "out_of_capacity"
    assert "no sandbox engine takes new sessions now (only draining)" in response.json()["message"]
    assert not Session.objects.exists()


def test_a_start_on_an_engine_that_never_answered_is_a_503_that_leaves_nothing(
    client: Client, playground: Playground, tmp_path: Path
) -> None:
    # Not marked down yet (that takes a minute), and never reached by this process.
    Engine.objects.create(name="silent", url=dead_url(tmp_path), memory_bytes=GIB)
    response = client.post("/", headers=XHR)
    assert response.status_code == 503
    assert response.json()["error"] == "engine_error"
    assert "does not answer" in response.json()["message"]
    assert not Session.objects.exists()


def test_a_sweep_goes_on_past_an_engine_that_never_answered(
    docker_engine: None, playground: Playground, tmp_path: Path
) -> None:
    Engine.objects.create(name="a-silent", url=dead_url(tmp_path), memory_bytes=GIB)
    up = Engine.objects.create(name="b-up", url=settings.SANDBOX_ENGINE, memory_bytes=GIB)
    session = Session.objects.create(playground=playground, engine=up, expires_at=timezone.now())
    # Its container is on no engine: the sweep of b-up, after a-silent's, finds it vanished.
    vanished = Instance.objects.create(
        session=session, name=f"{session.id}-gone", hostname="node1", image="x", state=Instance.State.RUNNING
    )
    reconcile.sweep()
    vanished.refresh_from_db()
    assert vanished.state == Instance.State.GONE


def test_a_full_engine_refuses_a_new_instance_with_a_message(live: Playground, api: Api) -> None:
    room = engines.per_instance_bytes() * 3 // 2  # one instance, not two
    Engine.objects.create(name="tiny", url=settings.SANDBOX_ENGINE, memory_bytes=room)
    session_id = api.start()
    api.add(session_id)
    answer = api.add(session_id, status=503)
    assert answer["error"] == "out_of_capacity"
    assert "the sandbox engine tiny is full" in answer["message"]
    assert Instance.objects.exclude(state=Instance.State.GONE).count() == 1


def test_an_engine_that_stops_answering_ends_its_sessions_and_not_the_others(
    docker_engine: None, playground: Playground, tmp_path: Path, settings: object
) -> None:
    settings.ENGINE_DOWN_AFTER = 2  # type: ignore[attr-defined]
    settings.RECORDINGS_DIR = tmp_path / "recordings"  # type: ignore[attr-defined]
    up = Engine.objects.create(name="up", url=settings.SANDBOX_ENGINE, memory_bytes=GIB)  # type: ignore[attr-defined]
    dead = Engine.objects.create(name="dead", url=dead_url(tmp_path), memory_bytes=GIB)
    on_dead = Session.objects.create(playground=playground, engine=dead, expires_at=timezone.now())
    on_up = Session.objects.create(playground=playground, engine=up, expires_at=timezone.now())
    recording = recordings.path(on_dead.id, "node1")
    recording.parent.mkdir(parents=True)
    recording.write_text("recorded\n")
    engines.check_all()
    dead.refresh_from_db()
    assert dead.down_since is None and dead.failed_pings == 1 and dead.last_error
    engines.check_all()
    dead.refresh_from_db()
    assert dead.state == "down"
    on_dead.refresh_from_db()
    on_up.refresh_from_db()
    assert (on_dead.state, on_dead.end_reason) == (Session.State.ENDED, engines.DOWN_REASON)
    assert not recording.exists()  # nothing else would remove it: its session ended
    assert on_up.is_live
    # Once it answers again, it is up and takes sessions.
    # The same engine by another spelling of its address (addresses are unique).
    again = str(settings.SANDBOX_ENGINE).replace("unix://", "http+unix://")  # type: ignore[attr-defined]
    Engine.objects.filter(pk=dead.pk).update(url=again)
    engines.check_all()
    dead.refresh_from_db()
    assert (dead.state, dead.failed_pings, dead.last_error) == ("up", 0, "")


def test_an_engine_whose_check_fails_does_not_stop_the_checks_of_the_others(
    playground: Playground, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = Engine.objects.create(name="a-broken", url=dead_url(tmp_path, "broken"), memory_bytes=GIB)
    dead = Engine.objects.create(name="b-dead", url=dead_url(tmp_path), memory_bytes=GIB)
    problem = Daemon.problem

    def failing(daemon: Daemon, timeout: int = 10) -> str | None:
        if daemon.url == broken.url:
            raise RuntimeError("an error nobody foresaw")
        return problem(daemon, timeout)

    monkeypatch.setattr(Daemon, "problem", failing)
    engines.check_all()
    dead.refresh_from_db()
    assert dead.failed_pings == 1


def test_the_check_pings_the_engines_side_by_side(
    playground: Playground, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hung = [Engine.objects.create(name=name, url=dead_url(tmp_path, name), memory_bytes=GIB) for name in "ab"]
    both_asked = threading.Barrier(len(hung), timeout=5)

    def no_answer(daemon: Daemon, timeout: int = 10) -> str | None:
        both_asked.wait()  # passes only while both pings are in flight: one after the other, it breaks
        return "no answer within the timeout"

    monkeypatch.setattr(Daemon, "problem", no_answer)
    engines.check_all()
    for engine in hung:
        engine.refresh_from_db()
        assert (engine.failed_pings, engine.last_error) == (1, "no answer within the timeout")


def test_starts_at_the_same_instant_spread_over_the_pool(
    transactional_db: None, playground: Playground, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in "ab":
        Engine.objects.create(name=name, url=dead_url(tmp_path, name), memory_bytes=100 * GIB)
    monkeypatch.setattr(lifecycle, "open_network", lambda session: None)  # rows only: no engine is asked
    placed = at_once(10, lambda: lifecycle.start_session(playground).engine)
    assert sorted(engine.name for engine in placed if engine) == ["a"] * 5 + ["b"] * 5


def test_a_start_and_the_warm_pool_filling_at_the_same_instant_both_finish(
    transactional_db: None, playground: Playground, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The start locks the engines' rows, then inserts its session (whose playground key PostgreSQL checks, a KEY
    # SHARE lock, at commit); the pool's filling locks the playground's row, then the engines'. With the
    # playground locked FOR UPDATE the two waited on each other, and PostgreSQL killed one: a 500 or a lost fill.
    Engine.objects.create(name="a", url=dead_url(tmp_path, "a"), memory_bytes=100 * GIB)
    monkeypatch.setattr(lifecycle, "open_network", lambda session: None)  # rows only: no engine is asked
    monkeypatch.setattr(warm, "_room", lambda spec: 1)  # room for one: no engine or /proc asked either
    engines_locked, playground_locked = threading.Event(), threading.Event()
    place, loads = engines.place, engines.loads

    def placing() -> Engine:
        if threading.current_thread().name == "filling":
            playground_locked.set()  # _reserve places under the playground's lock
        return place()

    def loading(pool: list[Engine]) -> list[engines.Load]:
        if threading.current_thread().name == "starting":
            engines_locked.set()
            # SQLite runs one write transaction at a time: the filling waits for this one to end, never locks.
            if playground_locked.wait(timeout=2):
                time.sleep(0.3)  # the filling is waiting for the engines' rows now
        return loads(pool)

    monkeypatch.setattr(engines, "place", placing)
    monkeypatch.setattr(engines, "loads", loading)
    spec = pools.PoolSpec(playground=playground, name="race", image=playground.default_image, instances=1, size=1)
    done: dict[str, object] = {}

    def run(name: str, call: Callable[[], object]) -> None:
        try:
            if name == "filling":
                assert engines_locked.wait(timeout=5)
            done[name] = call()
        except Exception as e:
            done[name] = e
        finally:
            connection.close()

    threads = [
        threading.Thread(target=run, name="starting", args=("starting", lambda: lifecycle.start_session(playground))),
        threading.Thread(target=run, name="filling", args=("filling", lambda: warm._reserve(spec, set()))),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert isinstance(done["starting"], Session), done["starting"]
    assert isinstance(done["filling"], list) and len(done["filling"]) == 1, done["filling"]


def test_the_command_adds_lists_drains_and_enables_engines(
    docker_engine: None, playground: Playground, capsys: pytest.CaptureFixture[str]
) -> None:
    # The same engine by another spelling of its address (addresses are unique).
    second = str(settings.SANDBOX_ENGINE).replace("unix://", "http+unix://")
    call_command("engines", "add", "second", second, "--memory", "8G")
    engine = Engine.objects.get(name="second")
    assert engine.memory_bytes == 8 * GIB and engine.state == "up"
    # The first engine added joins the one at SANDBOX_ENGINE rather than replace it.
    assert set(Engine.objects.values_list("name", flat=True)) == {"default", "second"}
    call_command("engines", "drain", "second")
    assert Engine.objects.get(name="second").state == "draining"
    call_command("engines", "enable", "second")
    assert Engine.objects.get(name="second").state == "up"
    call_command("engines", "list")
    assert "second" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["add", "x", "ssh://root@engine.internal", "--memory", "8G"], "unix socket"),
        (["add", "x", "https://engine.internal:2376", "--memory", "8G"], "unix socket"),
        (["add", "../etc", "tcp://10.0.0.5:2375", "--memory", "8G"], "name"),
        # A port past 65535 made the address check raise ValueError: a traceback here, a 500 in the admin.
        (["add", "x", "tcp://10.0.0.5:65536", "--memory", "8G"], "not a Docker engine address"),
        (["drain", "nosuch"], "there is no engine 'nosuch'"),
    ],
)
def test_the_command_refuses_bad_engines_clearly(playground: Playground, args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        call_command("engines", *args)
    assert not Engine.objects.filter(name__in=["x", "../etc"]).exists()


def test_the_command_refuses_a_size_that_is_no_size(playground: Playground) -> None:
    with pytest.raises(CommandError, match="not a size"):
        call_command("engines", "add", "x", settings.SANDBOX_ENGINE, "--memory", "lots")


def test_the_admin_refuses_an_engine_address_that_is_no_address(admin_client: Client, playground: Playground) -> None:
    page = admin_client.post(
        "/admin/sandboxes/engine/add/",
        {"name": "x", "url": "tcp://10.0.0.5:99999", "memory_bytes": GIB, "enabled": "on"},
    )
    assert page.status_code == 200  # the form again, with the error, not a 500
    assert "not a Docker engine address" in page.content.decode()
    assert not Engine.objects.filter(name="x").exists()


def test_sandboxes_holding_next_to_nothing_do_not_make_room_for_hundreds_more(
    playground: Playground, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A learner is root in their instances and may kill the inner engine of each: ten sandboxes holding 3 MiB
    each made the measured mean 3 MiB, and an engine of 1 GiB took 340 sessions instead of about 22."""
    monkeypatch.setattr(engines.capacity, "sandboxes_memory_mb", lambda: (30, 10))
    assert engines.per_instance_bytes() == settings.INSTANCE_MEMORY_ESTIMATE_MB * engines.MIB
    only = Engine.objects.create(name="only", url=dead_url(tmp_path), memory_bytes=GIB)
    for _ in range(GIB // engines.per_instance_bytes()):
        Session.objects.create(playground=playground, engine=only, expires_at=timezone.now())
    with pytest.raises(engines.NoRoom):
        engines.place()


def test_an_engine_on_another_host_counts_its_instances_at_what_its_own_take(playground: Playground) -> None:
    # Never asked anything: closed ports on loopback stand for engines on other hosts.
    heavy = Engine.objects.create(name="heavy", url="tcp://127.0.0.1:9", memory_bytes=10 * GIB, instance_bytes=2 * GIB)
    light = Engine.objects.create(name="light", url="tcp://127.0.0.1:10", memory_bytes=10 * GIB)
    for engine in (heavy, light):
        session = Session.objects.create(
            playground=playground, engine=engine, expires_at=timezone.now() + timedelta(hours=1)
        )
        for n in range(2):
            Instance.objects.create(
                session=session, name=f"n{n}-{session.pk[:8]}", hostname=f"node{n}", state=Instance.State.RUNNING
            )
    assert engines.per_instance_bytes(heavy) == 2 * GIB
    assert engines.per_instance_bytes(light) == settings.INSTANCE_MEMORY_ESTIMATE_MB * engines.MIB  # none measured
    assert engines.place() == light


def test_a_forwarded_socket_marked_remote_is_another_hosts_engine(playground: Playground, tmp_path: Path) -> None:
    box = Engine.objects.create(
        name="box2", url=dead_url(tmp_path, "box2"), memory_bytes=GIB, remote=True, instance_bytes=GIB // 4
    )
    session = Session.objects.create(playground=playground, engine=box, expires_at=timezone.now() + timedelta(hours=1))
    Instance.objects.create(session=session, name=f"n-{session.pk[:8]}", state=Instance.State.RUNNING)
    assert not box.is_local
    assert not Instance.objects.live().on_this_host().exists()  # this host's capacity is not its
    assert engines.per_instance_bytes(box) == GIB // 4  # sampled through its API, not this host's cgroups
    assert not engines.reachable_here(box)  # its instances' addresses are on box2, not here


def test_a_remote_engine_is_no_neighbour_of_this_hosts(playground: Playground, tmp_path: Path) -> None:
    """Its subnets are another host's, and a hung tunnel must not stall every start here listing its networks."""
    here = Engine.objects.create(name="here", url=dead_url(tmp_path, "here"), memory_bytes=GIB)
    also_here = Engine.objects.create(name="also", url=dead_url(tmp_path, "also"), memory_bytes=GIB)
    box = Engine.objects.create(name="box2", url=dead_url(tmp_path, "box2"), memory_bytes=GIB, remote=True)
    assert [d.url for d in engines.neighbours(here)] == [also_here.url]
    assert engines.neighbours(box) == []


def test_a_setup_larger_than_a_remote_engines_room_is_refused_before_anything_starts(
    playground: Playground, client: Client
) -> None:
    Engine.default()
    far = Engine.objects.create(name="far", url="tcp://127.0.0.1:9", memory_bytes=3 * 45 * engines.MIB)
    session = Session.objects.create(playground=playground, engine=far, expires_at=timezone.now() + timedelta(hours=1))
    node = {"is_swarm_manager": False, "is_swarm_worker": False, "type": "linux", "run": []}
    response = client.post(f"/sessions/{session.pk}/setup", {"instances": [node] * 5}, content_type="application/json")
    assert response.status_code == 503 and "is full" in response.json()["message"], response.content
    assert not Instance.objects.filter(session=session).exists()


def test_the_check_samples_the_memory_of_an_engine_on_another_host(
    live: Playground, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    api.add(api.start())
    engine = Engine.default()
    monkeypatch.setattr(Engine, "is_local", property(lambda self: False))  # as if its socket were forwarded here
    engines.check_all()
    engine.refresh_from_db()
    assert engine.instance_bytes is not None and engine.instance_bytes < live.memory_limit_mb * engines.MIB


def test_old_sessions_without_instances_hold_no_room(playground: Playground, tmp_path: Path) -> None:
    """Empty sessions cost nothing: an address holds SESSIONS_PER_CLIENT of them (an IPv6 client one per /64 of
    its prefix), and reserving an instance's room for each made every engine refuse every new session."""
    only = Engine.objects.create(name="only", url=dead_url(tmp_path), memory_bytes=GIB)
    long_ago = timezone.now() - timedelta(seconds=settings.PROVISIONING_TIMEOUT + 60)
    for _ in range(GIB // engines.per_instance_bytes() + 1):
        Session.objects.create(
            playground=playground, engine=only, created_at=long_ago, expires_at=timezone.now() + timedelta(hours=1)
        )
    assert engines.place() == only


def test_the_admin_does_not_move_an_engine_to_another_address(
    admin_client: Client, playground: Playground, tmp_path: Path
) -> None:
    """Its sessions' sandboxes stay where they run: a new address made the sweep forget them, still running."""
    engine = Engine.objects.create(name="box", url=dead_url(tmp_path, "box"), memory_bytes=GIB)
    page = admin_client.post(
        f"/admin/sandboxes/engine/{engine.pk}/change/",
        {"name": "box", "url": dead_url(tmp_path, "elsewhere"), "memory_bytes": GIB, "enabled": "on"},
    )
    assert page.status_code == 302
    engine.refresh_from_db()
    assert engine.url == dead_url(tmp_path, "box")


def test_an_operator_drains_and_enables_an_engine_by_command_and_in_the_admin(
    admin_client: Client, playground: Playground, tmp_path: Path
) -> None:
    box = Engine.objects.create(name="box2", url=dead_url(tmp_path), memory_bytes=GIB)
    call_command("engines", "drain", "box2", stdout=io.StringIO())
    box.refresh_from_db()
    assert box.state == "draining"
    admin_client.post("/admin/sandboxes/engine/", {"action": "enable", "_selected_action": [box.pk]})
    box.refresh_from_db()
    assert box.state == "up"
    with pytest.raises(CommandError, match="there is no engine 'nope'"):
        call_command("engines", "disable", "nope")
