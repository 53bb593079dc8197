"""How much more this host can take: its memory over what the running sandboxes take, its CPU, its free disk."""

from __future__ import annotations

import os
from pathlib import Path

from django.conf import settings

# The sandbox engine puts every sandbox below this cgroup at the root of the hierarchy (daemon.json's
# cgroup-parent "/playground"; without the slash dockerd nests it under its own cgroup, which this cannot find).
CGROUP_PARENT = "playground"
# The least an instance is expected to take, and the guess before any runs to measure: an idle one-node
# instance holds 40–44 MiB of anonymous memory in its cgroup here, and its containerd shim ~3 MiB outside it.
IDLE_INSTANCE_MB = 48
# Without PSI the CPU counts as saturated past this 1-minute load average per core, when as many tasks wait as
# run. Looser than PSI's limit because the load average also counts tasks waiting for the disk.
LOAD_PER_CORE_LIMIT = 2.0
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


def sandboxes_memory_mb(root: Path = Path("/sys/fs/cgroup")) -> int | None:
    """Return the anonymous memory every sandbox holds together, or None where the cgroup cannot be read."""
    # Not the page cache: the kernel gives it back under pressure, and MemAvailable already counts it as free.
    for path, key in (
        (root / "memory" / CGROUP_PARENT / "memory.stat", "total_rss"),
        (root / CGROUP_PARENT / "memory.stat", "anon"),
    ):
        try:
            stat = dict(line.split() for line in path.read_text().splitlines())
            return int(stat[key]) // MIB
        except (OSError, ValueError, KeyError):
            continue
    return None


def per_instance_mb(running: int, used_mb: int | None) -> int:
    """Return the memory one more instance is expected to take: the mean of those running, at least an idle one's."""
    if not running or used_mb is None:
        return IDLE_INSTANCE_MB
    return max(IDLE_INSTANCE_MB, used_mb // running)


def instance_limit(running: int, meminfo: str | None = None, cgroups: Path = Path("/sys/fs/cgroup")) -> int:
    """Return how many instances this host holds, the running ones included."""
    # MemTotal, not MemAvailable: this is what the host holds when full, so it does not shrink as instances
    # start. The platform's own processes live in the reserve; refusal() still watches what is really free.
    per_instance = per_instance_mb(running, sandboxes_memory_mb(cgroups))
    limit = max(0, (memory_total_mb(meminfo) - settings.SANDBOX_MEMORY_RESERVE_MB) // per_instance)
    if settings.MAX_INSTANCES_PER_HOST > 0:
        return min(limit, settings.MAX_INSTANCES_PER_HOST)
    return limit


def cpu_saturation(proc: Path = Path("/proc")) -> str | None:
    """Return how the host's CPU is saturated, or None while it has room for one more instance."""
    limit = settings.SANDBOX_CPU_PRESSURE_LIMIT
    if limit >= 100:
        return None
    try:
        waited = cpu_pressure((proc / "pressure" / "cpu").read_text())
    except (OSError, ValueError):  # no PSI (a kernel before 4.20, or booted with psi=0), or none we can read
        load = float((proc / "loadavg").read_text().split()[0])
        cores = len(os.sched_getaffinity(0))
        if load > LOAD_PER_CORE_LIMIT * cores:
            return f"the server's CPU is saturated (a load average of {load:.1f} on {cores} cores)"
        return None
    if waited > limit:
        return f"the server's CPU is saturated (tasks waited for a CPU {waited:.0f}% of the last minute)"
    return None


def cpu_pressure(psi: str) -> float:
    """Return the percentage of the last minute in which some runnable task waited for a CPU (PSI's some avg60)."""
    for line in psi.splitlines():
        kind, *fields = line.split()
        if kind == "some":
            return float(dict(field.split("=") for field in fields)["avg60"])
    raise ValueError("no 'some' line in /proc/pressure/cpu")


def disk_free_mb(engine_root: str) -> int:
    stat = os.statvfs(engine_root)
    return stat.f_bavail * stat.f_frsize // MIB


def refusal(running: int, engine_root: str) -> str | None:
    """Return why one more instance would not fit on this host, or None when it fits."""
    needed = per_instance_mb(running, sandboxes_memory_mb())
    available = memory_available_mb()
    if available - needed < settings.SANDBOX_MEMORY_RESERVE_MB:
        return f"the server is short of memory ({available} MiB free, {needed} MiB per instance)"
    saturated = cpu_saturation()
    if saturated:
        return saturated
    free_mb = disk_free_mb(engine_root)
    if free_mb < settings.SANDBOX_DISK_RESERVE_MB:
        return f"the server is short of disk space ({free_mb} MiB free)"
    return None
