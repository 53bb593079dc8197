"""`run_router` serves one port from several processes, replaces one that dies, and stops them all on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator

import pytest
from django.conf import settings

from mirror.registry import free_port

UNKNOWN_NAME = "nowhere.direct.localhost"


@pytest.fixture
def router() -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = free_port("127.0.0.1")
    command = [sys.executable, str(settings.BASE_DIR / "manage.py"), "run_router"]
    process = subprocess.Popen([*command, "--bind", "127.0.0.1", "--port", str(port), "--processes", "2"])
    try:
        eventually(lambda: len(children(process.pid)) == 2 and answers(port))
        yield process, port
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def children(pid: int) -> list[int]:
    try:
        return [int(child) for child in open(f"/proc/{pid}/task/{pid}/children").read().split()]
    except FileNotFoundError:
        return []


def answers(port: int) -> bool:
    """Tell whether the router answers a request for a name it does not route with its 404 page."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}/", headers={"Host": UNKNOWN_NAME})
    try:
        urllib.request.urlopen(request, timeout=2)
    except urllib.error.HTTPError as e:
        return e.code == 404
    except OSError:
        return False
    return False


def eventually(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_it_answers_from_every_process(router: tuple[subprocess.Popen[bytes], int]) -> None:
    process, port = router
    assert all(answers(port) for _ in range(20))


def test_it_starts_a_new_process_when_one_dies(router: tuple[subprocess.Popen[bytes], int]) -> None:
    process, port = router
    crashed, survivor = children(process.pid)
    os.kill(crashed, signal.SIGKILL)
    eventually(lambda: len(children(process.pid)) == 2 and crashed not in children(process.pid))
    assert survivor in children(process.pid)
    assert all(answers(port) for _ in range(20))


def test_it_stops_every_process_on_sigterm(router: tuple[subprocess.Popen[bytes], int]) -> None:
    process, port = router
    workers = children(process.pid)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 0
    assert not any(os.path.exists(f"/proc/{pid}") for pid in workers)
    assert not answers(port)


def test_it_takes_its_processes_along_when_killed_outright(router: tuple[subprocess.Popen[bytes], int]) -> None:
    process, _ = router
    workers = children(process.pid)
    process.kill()
    process.wait()
    eventually(lambda: not any(os.path.exists(f"/proc/{pid}") for pid in workers))
