"""The router, served on a free loopback port for the test, and ways to reach it by name."""

from __future__ import annotations

import asyncio
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from router.routes import Resolver
from router.server import Router
from router.workers import listening_sockets
from sessions.models import Playground
from tests.conftest import sh

# An image made inside the instance from the sandbox's own busybox-static, with an applet link for each command.
BUILD_BUSYBOX = (
    "mkdir -p /tmp/bb/bin /tmp/bb/www && cp /bin/busybox /tmp/bb/bin/ && "
    "for applet in $(/bin/busybox --list | grep -vx busybox); do ln -sf busybox /tmp/bb/bin/$applet; done && "
    "echo hello-from-the-instance > /tmp/bb/www/index.html && "
    "tar -C /tmp/bb -c . | docker import - busybox >/dev/null"
)


@pytest.fixture
def router_port(live: Playground) -> Iterator[int]:
    """Serve the router on a free port; remember no route, so every request asks the database."""
    loop = asyncio.new_event_loop()
    router = Router(settings.PLAYGROUND_DOMAIN, Resolver(ttl=0))
    server = loop.run_until_complete(router.serve(listening_sockets("127.0.0.1", 0, 1)[0]))
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield server.sockets[0].getsockname()[1]
    asyncio.run_coroutine_threadsafe(router.shut_down(server), loop).result(timeout=10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=5)
    loop.close()


def with_busybox(instance: dict[str, Any]) -> None:
    code, output = sh(instance, BUILD_BUSYBOX)
    assert code == 0, output


def run_resolving(names: list[str], command: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run a command that resolves the names to 127.0.0.1, as *.localhost resolves on a laptop.

    glibc here and the Go resolver in the docker CLI do not resolve *.localhost, so the command gets its own
    mount namespace where /etc/hosts lists the names; nothing outside the command changes.
    """
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n" + "".join(f"127.0.0.1 {name}\n" for name in names))
    script = 'mount --bind "$0" /etc/hosts && exec "$@"'
    return subprocess.run(
        ["unshare", "--mount", "sh", "-c", script, str(hosts), *command],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(tmp_path), **env},
    )
