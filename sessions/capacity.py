"""How much more this host can take: its memory over what the running sandboxes take, its cores, its free disk."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from django.conf import settings

log = logging.getLogger(__name__)

# The sandbox engine puts every sandbox below this cgroup at the root of the hierarchy (daemon.json's
# cgroup-parent "/playground"; without the slash dockerd nests it under its own cgroup, which this cannot find).
CGROUP_PARENT = "playground"
# The least an instance is expected to take, and the guess before any runs to measure: an idle one-node
# instance holds 40–44 MiB of anonymous memory in its cgroup here, and its containerd shim ~3 MiB outside it.
IDLE_INSTANCE_MB = 48
MIB = 1024 * 1024


def memory_available_mb(meminfo: str | None = None) -> int:
    """Return the host's MemAvailable in MiB."""
    return _meminfo_mb("MemAvailable", meminfo)


def memory_total_mb(meminfo: str | None = None) -> int:
    """Return the host's MemTotal in MiB."""
    return _meminfo_mb("MemTotal", meminfo)


def _meminfo_mb(key: str, meminfo: str | None) -> int:
    text = meminfo if meminfo is not None else Path("/proc/meminfo").read_text()
    for line in text.splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1]) // 1024
    raise ValueError(f"no {key} in /proc/meminfo")


def sandboxes_memory_mb(root: Path = Path("/sys/fs/cgroup")) -> tuple[int, int] | None:
    """Return the anonymous memory every sandbox on the engine holds together, and how many there are.

    None where the cgroup cannot be read. Counted by the cgroup's own children, not by this deployment's rows:
    another deployment on the same engine (a test run, a second site) must not skew the mean.
    """
    # Not the page cache: the kernel gives it back under pressure, and MemAvailable already counts it as free.
    for folder, key in ((root / "memory" / CGROUP_PARENT, "total_rss"), (root / CGROUP_PARENT, "anon")):
        try:
            stat = dict(line.split() for line in (folder / "memory.stat").read_text().splitlines())
            sandboxes = sum(1 for child in folder.iterdir() if child.is_dir())
            return int(stat[key]) // MIB, sandboxes
        except (OSError, ValueError, KeyError):
            continue
    return None


def per_instance_mb(measured: tuple[int, int] | None) -> int:
    """Return the memory one more instance is expected to take: the mean of those running, at least an idle one's."""
    if measured is None or not measured[1]:
        return IDLE_INSTANCE_MB
    used_mb, sandboxes = measured
    return max(IDLE_INSTANCE_MB, used_mb // sandboxes)


def in_use(live: int, cgroups: Path = Path("/sys/fs/cgroup")) -> int:
    """Return how many instances the host runs: this deployment's, or all the engine's sandboxes if more."""
    measured = sandboxes_memory_mb(cgroups)
    return max(live, measured[1] if measured else 0)


def instance_limit(meminfo: str | None = None, cgroups: Path = Path("/sys/fs/cgroup")) -> int:
    """Return how many instances this host holds, the running ones included."""
    # MemTotal, not MemAvailable: this is what the host holds when full, so it does not shrink as instances
    # start. The platform's own processes live in the reserve; refusal() still watches what is really free.
    per_instance = per_instance_mb(sandboxes_memory_mb(cgroups))
    limit = max(0, (memory_total_mb(meminfo) - settings.SANDBOX_MEMORY_RESERVE_MB) // per_instance)
    # And the CPU: a fixed number per core, not a measured load, which one learner could drive up to turn
    # everyone else away.
    limit = min(limit, settings.INSTANCES_PER_CORE * len(os.sched_getaffinity(0)))
    if settings.MAX_INSTANCES_PER_HOST > 0:
        return min(limit, settings.MAX_INSTANCES_PER_HOST)
    return limit


def disk_free_mb(engine_root: str) -> int | None:
    """Return the free space of the engine's file system in MiB, or None where this process cannot see it."""
    try:
        stat = os.statvfs(engine_root)
    except OSError as e:
        # A web or worker container sees the engine through its socket only, not its data root: skip the check
        # rather than fail every start (the engine's host keeps its own disk reserve then).
        log.warning("not checking the engine's free disk: %s is not visible here (%s)", engine_root, e.strerror)
        return None
    return stat.f_bavail * stat.f_frsize // MIB


def refusal(engine_root: str) -> str | None:
    """Return why one more instance would not fit on this host, or None when it fits."""
    needed = per_instance_mb(sandboxes_memory_mb())
    available = memory_available_mb()
    if available - needed < settings.SANDBOX_MEMORY_RESERVE_MB:
        return f"the server is short of memory ({available} MiB free, {needed} MiB per instance)"
    free_mb = disk_free_mb(engine_root)
    if free_mb is not None and free_mb < settings.SANDBOX_DISK_RESERVE_MB:
        return f"the server is short of disk space ({free_mb} MiB free)"
    return None
