"""Shared fixtures: a real Docker engine with the sandbox image, and sessions that never outlive a test."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client

from engine import daemon, execs, images, sandboxes
from engine.daemon import default
from engine.mirror import ensure_address, mirror_host
from mirror import registry
from sessions import firewall, lifecycle
from sessions.models import Instance, Playground, Session
from tests.processes import Processes, shared_database_url, wait_until

_T = TypeVar("_T")
# Seconds per test file (setup, call and teardown together): the summary's list of where the suite's time goes.
_FILE_SECONDS: defaultdict[str, float] = defaultdict(float)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _FILE_SECONDS[report.nodeid.split("::", 1)[0]] += report.duration


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if len(_FILE_SECONDS) > 1:
        terminalreporter.write_sep("=", "slowest 20 test files")
        for path, seconds in sorted(_FILE_SECONDS.items(), key=lambda item: -item[1])[:20]:
            terminalreporter.write_line(f"{seconds:8.1f}s {path}")


def at_once(count: int, call: Callable[[], _T]) -> list[_T]:
    """Call `call` from `count` threads released at the same instant, each on its own database connection, as
    that many requests arriving together would; return what each returned (an error in one is raised here)."""
    together = threading.Barrier(count, timeout=30)  # a broken crowd fails, not hangs

    def one() -> _T:
        try:
            together.wait()
            return call()
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=count) as executor:
        futures = [executor.submit(one) for _ in range(count)]
    return [future.result() for future in futures]


# Our sandboxes carry this label, so a test run never reconciles away a dev server's (or another run's) objects.
os.environ["SANDBOX_DEPLOYMENT"] = settings.SANDBOX_DEPLOYMENT = f"test-{os.getpid()}"
# The suite starts many sessions from 127.0.0.1; test_start_session turns the limit on where it is the subject.
os.environ["SESSION_STARTS_PER_MINUTE"] = "0"
settings.SESSION_STARTS_PER_MINUTE = 0
os.environ["SESSIONS_PER_CLIENT"] = "0"
settings.SESSIONS_PER_CLIENT = 0
# Likewise the workshops' tests take many seats from 127.0.0.1; tests/workshops/test_join.py turns it on.
os.environ["WORKSHOP_SEATS_PER_ADDRESS_LIMIT"] = "false"
settings.WORKSHOP_SEATS_PER_ADDRESS_LIMIT = False
settings.CACHES["default"]["KEY_PREFIX"] = settings.SANDBOX_DEPLOYMENT


@pytest.fixture(scope="session")
def docker_engine() -> None:
    assert daemon.default().ping(), f"no Docker engine at {settings.SANDBOX_ENGINE}: run bin/setup"
    assert images.image_recipe(default(), settings.SANDBOX_IMAGE) is not None, "no sandbox image: run bin/setup"


@pytest.fixture
def playground(db: None) -> Playground:
    return Playground.for_host("testserver")


@pytest.fixture
def live(docker_engine: None, transactional_db: None, playground: Playground) -> Iterator[Playground]:
    """Give a test the real engine; end every session it started, whatever happens."""
    yield playground
    # Lapse every ending claim: whoever held one (a killed worker, a test) is gone now.
    Session.objects.filter(state=Session.State.ENDING).update(ended_at=None)
    # Every one, even past one that fails (its engine stopped, say): the others' sandboxes must not outlive the test.
    failures = []
    for session in Session.objects.exclude(state=Session.State.ENDED):
        try:
            lifecycle.end_session(session, reason="test teardown")
        except Exception as e:
            failures.append(e)
    if failures:
        raise failures[0]


class Api:
    """The JSON API as PWD's SDK calls it."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def start(self, **form: str) -> str:
        response = self.client.post("/", form, headers={"x-requested-with": "XMLHttpRequest"})
        assert response.status_code == 200, response.content
        return str(response.json()["session_id"])

    def add(self, session_id: str, body: Any = None, status: int = 200) -> dict[str, Any]:
        data = body if isinstance(body, (str, bytes)) else json.dumps(body or {})
        response = self.client.post(f"/sessions/{session_id}/instances", data, content_type="application/json")
        assert response.status_code == status, response.content
        return dict(response.json())

    def get(self, session_id: str) -> dict[str, Any]:
        response = self.client.get(f"/sessions/{session_id}")
        assert response.status_code == 200, response.content
        return dict(response.json())


@pytest.fixture
def api(client: Client) -> Api:
    return Api(client)


def sh(instance: dict[str, Any] | Instance, script: str) -> tuple[int, str]:
    """Run a shell script inside an instance; return its exit code and output."""
    name = instance["name"] if isinstance(instance, dict) else instance.name
    code, output = execs.exec_run(default(), name, ["sh", "-c", script])
    return code, output.decode(errors="replace")


def restart_engine() -> None:
    """Stop the sandbox engine and start it again, as an upgrade does; live-restore keeps its sandboxes running."""
    pid = int(Path("/run/playground/engine.pid").read_text())
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    subprocess.run([settings.BASE_DIR / "compose" / "engine" / "start"], check=True, capture_output=True)


# What sandboxes.labelled_objects(default()) lists once everything of a session is removed.
NOTHING: dict[str, list[str]] = {"containers": [], "volumes": [], "networks": []}


def wait_until_ended(session_id: str, timeout: float = 30) -> None:
    """Wait until the session is ended and every object of it removed; fail after timeout seconds."""

    def gone() -> bool:
        """the session is ended and its objects removed"""
        ended = Session.objects.filter(pk=session_id, state=Session.State.ENDED).exists()
        return ended and sandboxes.labelled_objects(default(), session_id) == NOTHING

    wait_until(gone, timeout=timeout, interval=0.2)


# The Celery processes' own Redis database (issue 4), so their queues never mix with other runs'.
CELERY_REDIS_URL = "redis://127.0.0.1:6379/4"


@pytest.fixture
def celery(live: Playground, tmp_path: Path) -> Iterator[Processes]:
    """Run the Procfile's workers and beat against the test database, sweeping every second."""
    env = {
        **os.environ,
        "REDIS_URL": CELERY_REDIS_URL,
        "DATABASE_URL": shared_database_url(),
        "DATA_DIR": str(tmp_path),
        "SWEEP_INTERVAL": "1",
        "ENDING_LEASE": "3",
        "ORPHAN_GRACE": "2",
    }
    processes = Processes(env, tmp_path)
    processes.start("worker")
    processes.start("beat")
    yield processes
    processes.stop_all()


@pytest.fixture(scope="session")
def mirror(docker_engine: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Run the read-only mirror and the offline notice (the real commands) on free ports; yield host:port."""
    ensure_address(default())
    host = mirror_host()
    ports = {"MIRROR_PORT": registry.free_port(host), "MIRROR_OFFLINE_PORT": registry.free_port(host)}
    # Serve the seeded storage, but write the configuration elsewhere than a running platform's.
    paths = {"DATA_DIR": str(tmp_path_factory.mktemp("mirror")), "MIRROR_STORAGE": str(settings.MIRROR_STORAGE)}
    env = {**os.environ, **paths, **{name: str(port) for name, port in ports.items()}}
    manage = [sys.executable, str(settings.BASE_DIR / "manage.py")]
    procs = [
        subprocess.Popen([*manage, command], env=env, stdout=subprocess.DEVNULL)
        for command in ("run_mirror", "run_offline_notice")
    ]
    opened = contextlib.ExitStack()
    for port in ports.values():
        opened.enter_context(firewall.port_opened(host, port))
    saved = {name: getattr(settings, name) for name in ports}
    for name, port in ports.items():
        setattr(settings, name, port)
    addr = f"{host}:{ports['MIRROR_PORT']}"
    try:
        registry.wait_until_up(addr, procs[0])
        registry.wait_until_up(f"{host}:{ports['MIRROR_OFFLINE_PORT']}", procs[1])
        assert registry.image_label(addr, "library/hello-world", "latest", daemon.LABEL_RECIPE), (
            "the mirror is not seeded: run bin/setup"
        )
        yield addr
    finally:
        for name, value in saved.items():
            setattr(settings, name, value)
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=10)
        opened.close()


def fetch(instance: dict[str, Any], url: str) -> str:
    """Fetch a page with curl inside an instance, for up to 5 s while the server starts; return the page."""
    code, page = sh(instance, f"for i in $(seq 50); do curl -sf -m 2 {url} && exit 0; sleep 0.1; done; exit 1")
    assert code == 0, f"{url} did not answer in {instance['hostname']}"
    return page
