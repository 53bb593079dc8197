"""Run the platform's Procfile processes (the Celery worker and beat) against the test database."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO
from urllib.parse import quote

from django.conf import settings


def shared_database_url() -> str:
    """Return DATABASE_URL for the test database, so processes a test starts see the rows it writes."""
    # Django's test runner has renamed the database in settings by now (test_<name>, or TEST_DATABASE_NAME).
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    auth = quote(str(db.get("USER") or ""), safe="")
    if db.get("PASSWORD"):
        auth += ":" + quote(str(db["PASSWORD"]), safe="")
    host = str(db.get("HOST") or "")
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{auth}{'@' if auth else ''}{host}{port}/{quote(str(db['NAME']), safe='')}"


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
        # exec: the shell becomes the process, so waiting on it waits on the process itself.
        self.running[name] = subprocess.Popen(
            "exec " + procfile_command(name),
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
        wait_until(lambda: not group_alive(process.pid), timeout=15)

    def stop(self, name: str) -> None:
        """Ask the process to stop, give it 15 s, then kill what is left of its group. Nothing of it outlives this
        call: a worker still shutting down would take the next test's tasks."""
        process = self.running.pop(name)
        os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=15)
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        process.wait()
        wait_until(lambda: not group_alive(process.pid), timeout=15)

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


def group_alive(pgid: int) -> bool:
    """Whether any process of the group is still running (zombies excepted)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def wait_until(condition: Callable[[], object], timeout: float, interval: float = 0.1) -> float:
    """Poll until condition() is true and return the monotonic time it became so; fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return time.monotonic()
        time.sleep(interval)
    raise AssertionError(f"still not true after {timeout}s: {condition.__doc__ or condition}")
