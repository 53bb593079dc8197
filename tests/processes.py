"""Run the platform's Procfile processes (the Celery worker and beat) against the test database."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

from django.conf import settings

PROCFILE = settings.BASE_DIR / "Procfile"


def procfile_command(name: str) -> str:
    """Return the command the Procfile gives for one process."""
    for line in PROCFILE.read_text().splitlines():
        key, _, command = line.partition(":")
        if key.strip() == name:
            return command.strip()
    raise LookupError(f"no {name!r} process in {PROCFILE}")


class Processes:
    """Start, kill and restart Procfile processes, each in its own process group, logging to a folder."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.running: dict[str, subprocess.Popen[bytes]] = {}
        self.logs: list[IO[bytes]] = []

    def start(self, name: str) -> None:
        log = (self.log_dir / f"{name}.log").open("ab")
        self.logs.append(log)
        self.running[name] = subprocess.Popen(
            procfile_command(name),
            shell=True,
            cwd=settings.BASE_DIR,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self, name: str) -> None:
        """Kill the process and its children at once, as a crash or `kill -9` would."""
        process = self.running.pop(name)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def stop(self, name: str) -> None:
        process = self.running.pop(name)
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def stop_all(self) -> None:
        for name in list(self.running):
            self.stop(name)
        for log in self.logs:
            log.close()

    def log(self, name: str) -> str:
        return (self.log_dir / f"{name}.log").read_text(errors="replace")

    def sweeps_done(self) -> int:
        """Count the sweeps the worker has finished, as its log reports them."""
        return len(re.findall(r"sessions\.tasks\.sweep\[[^]]+\] succeeded", self.log("worker")))


def wait_until(condition: Callable[[], object], timeout: float, interval: float = 0.1) -> float:
    """Poll until condition() is true and return the monotonic time it became so; fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return time.monotonic()
        time.sleep(interval)
    raise AssertionError(f"still not true after {timeout}s: {condition.__doc__ or condition}")
