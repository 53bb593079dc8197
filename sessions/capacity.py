"""How much more this host can take: memory measured on the sandboxes that run, and the engine's free disk."""

from __future__ import annotations

import os
from pathlib import Path

from django.conf import settings

# The sandbox engine puts every sandbox below this cgroup at the root of the hierarchy (daemon.json's
# cgroup-parent "/playground"; without the slash dockerd nests it under its own cgroup, which this cannot find).
CGROUP_PARENT = "playground"
# What an instance is assumed to take before any runs to measure (an idle one takes ~40 MiB here).
FIRST_INSTANCE_MB = 64
MIB = 1024 * 1024


def memory_available_mb(meminfo: str | None = None) -> int:
    """Return the host's MemAvailable in MiB."""
    text = meminfo if meminfo is not None else Path("/proc/meminfo").read_text()
    for line in text.splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) // 1024
    raise ValueError("no MemAvailable in /proc/meminfo")


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
    """Return the memory one more instance is expected to take: the mean of those running."""
    if not running or used_mb is None:
        return FIRST_INSTANCE_MB
    return max(FIRST_INSTANCE_MB, used_mb // running)


def disk_free_mb(engine_root: str) -> int:
    stat = os.statvfs(engine_root)
    return stat.f_bavail * stat.f_frsize // MIB


def refusal(running: int, engine_root: str) -> str | None:
    """Return why one more instance would not fit on this host, or None when it fits."""
    needed = per_instance_mb(running, sandboxes_memory_mb())
    available = memory_available_mb()
    if available - needed < settings.SANDBOX_MEMORY_RESERVE_MB:
        return f"the server is short of memory ({available} MiB free, {needed} MiB per instance)"
    free_mb = disk_free_mb(engine_root)
    if free_mb < settings.SANDBOX_DISK_RESERVE_MB:
        return f"the server is short of disk space ({free_mb} MiB free)"
    return None
