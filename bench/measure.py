"""What several benchmarks read off the machine: CPU ticks, memory cgroups, free ports, the sandbox engine."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

# Where the instances live, as the platform's settings read it.
SANDBOX_ENGINE = os.environ.get("SANDBOX_ENGINE", "unix:///run/playground/engine.sock")


def docker_argv(*args: str, host: str = SANDBOX_ENGINE) -> list[str]:
    """Return the docker CLI's command line for args against host (the sandbox engine by default)."""
    return ["docker", "-H", host, *args]


def docker(*args: str, host: str = SANDBOX_ENGINE, check: bool = False) -> str:
    """Run the docker CLI against host (the sandbox engine by default); return its output."""
    done = subprocess.run(docker_argv(*args, host=host), capture_output=True, text=True, check=check, timeout=120)
    return done.stdout.strip()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def cpu_ticks() -> tuple[int, int]:
    """Return the machine's busy and total CPU ticks so far."""
    # user nice system idle iowait irq softirq steal; guest time is already counted in user.
    ticks = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return sum(ticks) - ticks[3] - ticks[4], sum(ticks)  # less idle and iowait


def memory_cgroup(pid: int) -> tuple[Path, bool]:
    """Return the folder of a process's memory cgroup, and whether it is cgroup v1's."""
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            folder, v1 = Path("/sys/fs/cgroup/memory", path.lstrip("/")), True
        elif controllers == "":
            folder, v1 = Path("/sys/fs/cgroup", path.lstrip("/")), False
        else:
            continue
        if (folder / "memory.stat").exists():
            return folder, v1
    raise RuntimeError(f"no memory cgroup for process {pid}")


def memory_stat(folder: Path) -> dict[str, int]:
    pairs = (line.split() for line in (folder / "memory.stat").read_text().splitlines())
    return {key: int(value) for key, value in pairs}
