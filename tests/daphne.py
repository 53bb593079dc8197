"""Serve the site with a real Daphne on a free loopback port, on the test database."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.request import urlopen

from django.conf import settings

from tests.processes import shared_database_url


@dataclass
class Daphne:
    url: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def rss_kib(self) -> int:
        """Return the server's resident memory in KiB."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")


def start_daphne(log: Path, **env: str) -> Daphne:
    """Start Daphne with the site on a free loopback port, on the test database, with `env` added to ours."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    port = listener.getsockname()[1]
    environment = {
        **os.environ,
        "DATABASE_URL": shared_database_url(),
        "SANDBOX_DEPLOYMENT": settings.SANDBOX_DEPLOYMENT,
        **env,
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "daphne", "--fd", str(listener.fileno()), "playground.asgi:application"],
            cwd=settings.BASE_DIR,
            env=environment,
            pass_fds=[listener.fileno()],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    listener.close()
    server = Daphne(f"http://127.0.0.1:{port}", port, process, log)
    try:
        _wait_for_http(server)
    except BaseException:
        stop_daphne(server)
        raise
    return server


def stop_daphne(server: Daphne) -> None:
    server.process.terminate()
    try:
        server.process.wait(10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


def _wait_for_http(server: Daphne) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"daphne exited: {server.log.read_text()}")
        try:
            with urlopen(f"{server.url}/instances/images", timeout=2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("daphne did not answer within 30 s")
