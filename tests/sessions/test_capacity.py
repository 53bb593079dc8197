"""One visitor cannot take the whole host; a host holds what its memory gives, and refuses new instances first
when short of memory or disk."""

import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.test import Client
from django.utils import timezone

from engine import daemon, sandboxes
from engine.daemon import default
from sessions import capacity, reconcile
from sessions.models import Engine, Instance, Playground, Session
from tests.conftest import Api

XHR = {"x-requested-with": "XMLHttpRequest"}
MEMINFO = "MemTotal:       24000000 kB\nMemFree:  1000 kB\nMemAvailable:   2097152 kB\n"


def test_it_reads_the_hosts_available_memory() -> None:
    assert capacity.memory_available_mb(MEMINFO) == 2048


def test_it_reads_the_hosts_total_memory() -> None:
    assert capacity.memory_total_mb(MEMINFO) == 23437


def test_it_expects_the_mean_of_the_instances_running() -> None:
    assert capacity.per_instance_mb(None) == capacity.IDLE_INSTANCE_MB
    assert capacity.per_instance_mb((0, 0)) == capacity.IDLE_INSTANCE_MB
    assert capacity.per_instance_mb((1500, 10)) == 150
    assert capacity.per_instance_mb((100, 10)) == capacity.IDLE_INSTANCE_MB


def engine_cgroup(root: Path, used_mb: int, count: int) -> Path:
    """Lay out a cgroup like the engine's: the sandboxes' memory, and one folder per sandbox."""
    folder = root / "memory" / "playground"
    for n in range(count):
        (folder / f"container-{n}").mkdir(parents=True)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "memory.stat").write_text(
        f"cache {900 * 2**20}\ntotal_cache {900 * 2**20}\ntotal_rss {used_mb * 2**20}\n"
    )
    return root


def test_it_holds_as_many_instances_as_its_memory_gives(tmp_path: Path, settings: object) -> None:
    settings.SANDBOX_MEMORY_RESERVE_MB = 1024  # type: ignore[attr-defined]
    settings.MAX_INSTANCES_PER_HOST = 0  # type: ignore[attr-defined]
    settings.INSTANCES_PER_CORE = 10**6  # type: ignore[attr-defined]
    # Nothing measured yet: idle instances.
    assert capacity.instance_limit(MEMINFO, tmp_path) == (23437 - 1024) // capacity.IDLE_INSTANCE_MB
    # Ten sandboxes on the engine (whatever deployment runs them) holding 150 MiB each.
    engine_cgroup(tmp_path, 1500, 10)
    assert capacity.instance_limit(MEMINFO, tmp_path) == (23437 - 1024) // 150
    # A positive setting caps it; a reserve larger than the host leaves room for none.
    settings.MAX_INSTANCES_PER_HOST = 100  # type: ignore[attr-defined]
    assert capacity.instance_limit(MEMINFO, tmp_path) == 100
    settings.SANDBOX_MEMORY_RESERVE_MB = 10**9  # type: ignore[attr-defined]
    assert capacity.instance_limit(MEMINFO, tmp_path) == 0


def test_it_holds_a_fixed_number_of_instances_per_core(tmp_path: Path, settings: object) -> None:
    settings.MAX_INSTANCES_PER_HOST = 0  # type: ignore[attr-defined]
    settings.INSTANCES_PER_CORE = 3  # type: ignore[attr-defined]
    assert capacity.instance_limit(MEMINFO, tmp_path) == 3 * len(os.sched_getaffinity(0))


def test_it_counts_every_deployments_sandboxes_against_the_hosts_limit(tmp_path: Path) -> None:
    assert capacity.in_use(3, tmp_path) == 3
    engine_cgroup(tmp_path, 1000, 20)
    assert capacity.in_use(3, tmp_path) == 20
    assert capacity.in_use(30, tmp_path) == 30


def test_it_reads_what_the_sandboxes_hold_from_their_cgroup(tmp_path: Path) -> None:
    assert capacity.sandboxes_memory_mb(engine_cgroup(tmp_path, 300, 2)) == (300, 2)
    assert capacity.sandboxes_memory_mb(tmp_path / "nowhere") is None


def test_it_caps_the_sessions_one_client_holds(live: Playground, settings: object) -> None:
    settings.SESSIONS_PER_CLIENT = 2  # type: ignore[attr-defined]
    client = Client(REMOTE_ADDR="192.0.2.9")
    codes = [client.post("/", {}, headers=XHR).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    response = client.post("/", {}, headers=XHR)
    assert response.json()["error"] == "too_many_open_sessions"
    assert Session.objects.filter(client_address="192.0.2.9").count() == 2
    # Another client is not affected, and closing a session makes room again.
    assert Client(REMOTE_ADDR="192.0.2.10").post("/", {}, headers=XHR).status_code == 200
    first = Session.objects.filter(client_address="192.0.2.9").first()
    assert first is not None
    assert client.delete(f"/sessions/{first.id}").status_code == 200
    assert client.post("/", {}, headers=XHR).status_code == 200


def test_it_refuses_an_instance_when_memory_runs_short(live: Playground, api: Api, settings: object) -> None:
    session_id = api.start()
    # Room for one more instance by the host's total memory, never by what is available, which is always less.
    room = capacity.per_instance_mb(capacity.sandboxes_memory_mb()) * (capacity.in_use(0) + 1)
    settings.SANDBOX_MEMORY_RESERVE_MB = capacity.memory_total_mb() - room  # type: ignore[attr-defined]
    response = api.add(session_id, status=503)
    assert response["error"] == "out_of_capacity"
    assert "short of memory" in response["message"]
    assert sandboxes.labelled_objects(default(), session_id)["containers"] == []
    assert not Instance.objects.filter(session_id=session_id).exists()


def test_instances_on_another_hosts_engine_leave_this_hosts_room_alone(
    live: Playground, api: Api, settings: object
) -> None:
    Engine.default()
    # Never asked anything here: a closed port on loopback stands for an engine on another host.
    far = Engine.objects.create(name="far", url="tcp://127.0.0.1:9", memory_bytes=capacity.MIB)
    away = Session.objects.create(playground=live, engine=far, expires_at=timezone.now() + timedelta(hours=1))
    for n in range(3):
        Instance.objects.create(
            session=away, name=f"far{n}-{away.pk[:8]}", hostname=f"node{n}", state=Instance.State.RUNNING
        )
    settings.MAX_INSTANCES_PER_HOST = capacity.in_use(0) + 1  # type: ignore[attr-defined]  # room for one here
    try:
        assert api.add(api.start())["name"]
        assert api.add(api.start(), status=503)["error"] == "out_of_capacity"
    finally:  # rows only: nothing of them to remove from an engine
        away.instances.update(state=Instance.State.GONE)
        Session.objects.filter(pk=away.pk).update(state=Session.State.ENDED)


def test_it_refuses_an_instance_when_the_disk_runs_short(live: Playground, api: Api, settings: object) -> None:
    session_id = api.start()
    settings.SANDBOX_DISK_RESERVE_MB = 10**9  # type: ignore[attr-defined]
    response = api.add(session_id, status=503)
    assert "short of disk space" in response["message"]
    assert sandboxes.labelled_objects(default(), session_id)["containers"] == []


def test_it_skips_the_disk_check_where_the_engine_root_is_not_visible(
    tmp_path: Path, settings: object, caplog: pytest.LogCaptureFixture
) -> None:
    # A web or worker container talks to the engine through its socket and cannot see the engine's data root.
    settings.SANDBOX_MEMORY_RESERVE_MB = 0  # type: ignore[attr-defined]
    settings.SANDBOX_DISK_RESERVE_MB = 10**9  # type: ignore[attr-defined]
    missing = str(tmp_path / "var" / "lib" / "docker")
    assert capacity.disk_free_mb(missing) is None
    assert capacity.refusal(missing) is None
    assert "not checking the engine's free disk" in caplog.text
    # The sweep's disk guard skips it too rather than failing every sweep.
    reconcile.guard_disk(default(), [], {})


def test_it_starts_an_instance_where_the_engine_root_is_not_visible(
    live: Playground, api: Api, settings: object, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Was a 500: os.statvfs on a path only the engine's host has.
    monkeypatch.setattr(daemon.Daemon, "data_root", lambda self: str(tmp_path / "absent"))
    settings.SANDBOX_DISK_RESERVE_MB = 10**9  # type: ignore[attr-defined]
    assert api.add(api.start())["name"]


def test_it_reports_the_capacity_its_memory_gives_to_load_balancers(
    client: Client, docker_engine: None, playground: Playground, settings: object
) -> None:
    settings.MAX_INSTANCES_PER_HOST = 0  # type: ignore[attr-defined]
    expected = capacity.instance_limit()
    assert 0 < expected <= settings.INSTANCES_PER_CORE * len(os.sched_getaffinity(0))  # type: ignore[attr-defined]
    # Instances: this deployment has none; other deployments' sandboxes on the same engine count.
    answer = client.get("/ping").json()
    assert answer == {**answer, "status": "ok", "instances": capacity.in_use(0), "capacity": expected}
    settings.MAX_INSTANCES_PER_HOST = 1000  # type: ignore[attr-defined]
    settings.INSTANCES_PER_CORE = 3  # type: ignore[attr-defined]
    assert client.get("/ping").json()["capacity"] == 3 * len(os.sched_getaffinity(0))
