"""How a benchmark starts what it measures: Django in its own process, a session with one instance, or the
checkout's Procfile processes.

A script run as `bench/<name>.py` has bench/ on its path, not the checkout, so it first puts the checkout there:

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as bench/<name>.py
    from bench.start import start_django  # noqa: E402
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING

from engine.daemon import default

if TYPE_CHECKING:
    from sessions.models import Instance

ROOT = Path(__file__).resolve().parent.parent
# Debian's chromium, launched as the browser tests launch it (never a downloaded browser).
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def start_django(root: Path = ROOT, env: Mapping[str, str] | None = None, own_deployment: bool = True) -> None:
    """Set up Django on the checkout at root, with env added to os.environ, which the processes it starts inherit.

    With own_deployment, its sandboxes carry a deployment label of this process's own, apart from a dev server's
    and the tests'.
    """
    sys.path.insert(0, str(root))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "playground.settings")
    if own_deployment:
        os.environ["SANDBOX_DEPLOYMENT"] = f"bench-{os.getpid()}"
    os.environ.update(env or {})
    import django

    django.setup()


@contextmanager
def one_instance() -> Iterator[Instance]:
    """Start a session with one instance on the default playground; end the session on the way out."""
    from django.conf import settings

    from sessions import lifecycle
    from sessions.models import Playground

    session = lifecycle.start_session(Playground.for_host(settings.PLAYGROUND_DOMAIN))
    try:
        yield lifecycle.add_instance(session, lifecycle.InstanceRequest())
    finally:
        lifecycle.end_session(session, reason="benchmark done")


@contextmanager
def read_only_mirror() -> Iterator[None]:
    """Serve the seeded registry mirror read-only on a free port that sandboxes may reach, for instances made
    meanwhile to pull from."""
    from django.conf import settings

    from engine import mirror as addresses
    from mirror import registry
    from sessions import firewall

    addresses.ensure_address(default())
    host = addresses.mirror_host()
    with registry.running(host, read_only=True) as mirror:
        settings.MIRROR_PORT = int(mirror.rpartition(":")[2])
        with firewall.port_opened(host, settings.MIRROR_PORT):
            yield


class Procfile:
    """The checkout's Procfile processes, each in a process group of its own, logging to a folder."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env, self.log_dir = env, log_dir
        lines = (line.partition(":") for line in (ROOT / "Procfile").read_text().splitlines())
        self.commands = {name.strip(): command.strip() for name, _, command in lines if command.strip()}
        self.running: dict[str, subprocess.Popen[bytes]] = {}
        self.logs: list[IO[bytes]] = []

    def start(self, name: str) -> None:
        log = (self.log_dir / f"{name}.log").open("ab")
        self.logs.append(log)
        # exec: the process waited for on stopping is the server itself, not a shell that exits first.
        self.running[name] = subprocess.Popen(
            f"exec {self.commands[name]}",
            shell=True,
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log(self, name: str) -> str:
        return (self.log_dir / f"{name}.log").read_text(errors="replace")

    def check(self) -> None:
        """Raise if a process has died: the figures would describe a platform that is not all there."""
        for name, process in self.running.items():
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}:\n{self.log(name)[-2000:]}")

    def stop_all(self) -> None:
        for process in self.running.values():
            os.killpg(process.pid, signal.SIGTERM)
        for process in self.running.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.running.clear()
        for log in self.logs:
            log.close()


def wait_until(condition: Callable[[], object], timeout: float, interval: float = 0.1) -> None:
    """Poll until condition() is true; raise TimeoutError after timeout seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"still not true after {timeout} s: {condition.__doc__ or condition}")
        time.sleep(interval)


def start_daphne(app: str = "playground.asgi:application", scheme: str = "http") -> tuple[subprocess.Popen[bytes], str]:
    """Serve app with Daphne on a free loopback port, with this process's environment; return it and its base URL."""
    return serve_on_free_port([sys.executable, "-m", "daphne", "--fd", "{fd}", app], scheme)


def serve_on_free_port(argv: list[str], scheme: str = "http") -> tuple[subprocess.Popen[bytes], str]:
    """Start a server on a listening socket it inherits ("{fd}" in argv); return it and its base URL."""
    servers, base = serve_many_on_free_port(argv, 1, scheme)
    return servers[0], base


def serve_many_on_free_port(
    argv: list[str], processes: int, scheme: str = "http"
) -> tuple[list[subprocess.Popen[bytes]], str]:
    """Start that many servers sharing one listening socket they inherit ("{fd}" in argv), the kernel handing each
    connection to whichever accepts first; return them and their base URL."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    fd = listener.fileno()
    servers = [
        subprocess.Popen(
            [arg.format(fd=fd) for arg in argv],
            cwd=ROOT,
            pass_fds=[fd],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(processes)
    ]
    port = listener.getsockname()[1]
    listener.close()
    return servers, f"{scheme}://127.0.0.1:{port}"
