"""A second sandbox engine on this machine (compose/engine/start engine2), and a pool of it and the main one."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

from engine import images, sandboxes
from engine.daemon import Daemon, default
from sessions.models import Engine, Playground, Session
from tests.gateway.conftest import gateway, ssh  # noqa: F401 (fixtures)
from tests.router.conftest import router_port  # noqa: F401 (fixture)

SECOND = "engine2"
SECOND_URL = f"unix:///run/playground/{SECOND}.sock"
# The same engine also serves its API over TCP with TLS both ways, as an engine on another host would.
SECOND_TLS_URL = "tcp://127.0.0.1:23762"
SECOND_TLS = f"/var/lib/playground/{SECOND}-tls/client"
GIB = 2**30


def start_second(**env: str) -> Daemon:
    """Start the second engine unless it runs (its own socket, data root, bridge...); give it the sandbox image."""
    start = [str(settings.BASE_DIR / "compose" / "engine" / "start"), SECOND, "--tls", SECOND_TLS_URL[len("tcp://") :]]
    subprocess.run(start, check=True, capture_output=True, env={**os.environ, **env})
    second = Daemon(SECOND_URL)
    # Kept in its data root from one run to the next: copied again only when bin/setup built a new one.
    images.copy_image(default(), second, settings.SANDBOX_IMAGE)
    return second


def stop_second() -> None:
    """Stop the second engine's daemon, as a machine that stops answering (its sandboxes live on: live-restore)."""
    pid = int(Path(f"/run/playground/{SECOND}.pid").read_text())
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Path(f"/proc/{pid}").exists(), "the second engine did not stop"


@pytest.fixture(scope="session")
def second_engine(docker_engine: None) -> Daemon:
    return start_second()


@pytest.fixture
def pool(live: Playground, second_engine: Daemon) -> Iterator[tuple[Engine, Engine]]:
    """Configure the main engine and the second one with the same room, so sessions alternate between them."""
    yield from _pool(second_engine, url=SECOND_URL)


@pytest.fixture
def tls_pool(live: Playground, second_engine: Daemon) -> Iterator[tuple[Engine, Engine]]:
    """As pool, with the second engine reached over TCP and TLS, as an engine on another host."""
    yield from _pool(second_engine, url=SECOND_TLS_URL, tls=SECOND_TLS)


def _pool(second_engine: Daemon, **where: str) -> Iterator[tuple[Engine, Engine]]:
    main = Engine.objects.create(name="main", url=settings.SANDBOX_ENGINE, memory_bytes=4 * GIB)
    second = Engine.objects.create(name="second", memory_bytes=4 * GIB, **where)
    yield main, second
    # A test that stopped it left its sessions ended but their sandboxes there: start it and remove them.
    if not second_engine.ping():
        start_second()
    for session_id in Session.objects.filter(engine=second).values_list("pk", flat=True):
        sandboxes.remove_session_objects(second_engine, session_id)
