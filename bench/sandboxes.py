"""Seconds from asking for an instance to a working inner engine, and the memory an idle one holds.

    .venv/bin/python bench/sandboxes.py [--count 8] [--root DIR] [--raw-only | --platform-only]

Three ways, same image, one after the other, each instance left idle 20 s before its memory is read:
- raw: `docker run` of the sandbox image with the same security options, then `docker info` inside until it
  answers; once on the sandbox engine (user namespaces) and, where the machine runs one, once on its system
  engine with the capability set the platform used before (no user namespace);
- platform: `lifecycle.add_instance` of the checkout at --root (default: this one), which adds the session
  network, TLS certificates and the readiness wait. Pointing --root at an older checkout (run from that folder
  with PYTHONPATH and DOCKER_HOST set for it, and --platform-only) measures that version the same way.
Memory is the cgroup's usage minus its inactive page cache, as `docker stats` counts it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as bench/sandboxes.py
from bench.measure import SANDBOX_ENGINE, docker, memory_cgroup, memory_stat  # noqa: E402
from bench.start import ROOT, start_django  # noqa: E402

IMAGE = "playground/dind:latest"
SYSTEM_ENGINE = "unix:///var/run/docker.sock"
IDLE = 20.0
NEW = [
    "--cap-add=SYS_ADMIN",
    "--cap-add=NET_ADMIN",
    f"--security-opt=seccomp={ROOT / 'compose/engine/seccomp.json'}",
    "--security-opt=apparmor=unconfined",
    "--security-opt=systempaths=unconfined",
    "--env=PLAYGROUND_DISK_MB=10240",
]
OLD = ["--cap-add=ALL", "--cap-drop=SYS_RESOURCE", "--security-opt=seccomp=unconfined"]
OLD += ["--security-opt=apparmor=unconfined", "--security-opt=systempaths=unconfined"]


def idle_memory_mib(pid: int) -> float:
    """Return what the cgroup of a process holds, less its inactive page cache, in MiB."""
    folder, v1 = memory_cgroup(pid)
    usage = int((folder / ("memory.usage_in_bytes" if v1 else "memory.current")).read_text())
    return (usage - memory_stat(folder)["total_inactive_file" if v1 else "inactive_file"]) / 2**20


def raw(host: str, options: list[str], count: int) -> tuple[list[float], list[float]]:
    names = [f"bench-raw-{os.getpid()}-{i}" for i in range(count)]
    seconds = []
    if host == SANDBOX_ENGINE:
        # The sandbox engine has no default network: a bridge like a session's (its name matched by the firewall).
        docker("network", "create", "-o", "com.docker.network.bridge.name=pgsbench", "bench-net", host=host)
        options = [*options, "--network=bench-net"]
    try:
        for name in names:
            start = time.monotonic()
            volume = f"{name}-docker"
            docker("run", "-d", "-t", "-i", "--name", name, "--cgroupns=private", f"-v={volume}:/var/lib/docker",
                   "-m=2g", "--pids-limit=4096", *options, IMAGE, host=host, check=True)  # fmt: skip
            while docker("exec", name, "docker", "info", "--format", "{{.ID}}", host=host) == "":
                time.sleep(0.05)
            seconds.append(time.monotonic() - start)
        time.sleep(IDLE)
        memory = [
            idle_memory_mib(int(docker("inspect", "-f", "{{.State.Pid}}", name, host=host, check=True)))
            for name in names
        ]
    finally:
        for name in names:
            docker("rm", "-f", "-v", name, host=host)
            docker("volume", "rm", f"{name}-docker", host=host)
        docker("network", "rm", "bench-net", host=host)
    return seconds, memory


def platform(root: Path, count: int) -> tuple[list[float], list[float]]:
    start_django(root, {"SESSIONS_PER_CLIENT": "0"})
    from engine import daemon
    from sessions import lifecycle
    from sessions.models import Playground

    playground = Playground.for_host("localhost")
    sessions, seconds = [], []
    try:
        for _ in range(count):
            session = lifecycle.start_session(playground)
            sessions.append(session)
            start = time.monotonic()
            lifecycle.add_instance(session, lifecycle.InstanceRequest())
            seconds.append(time.monotonic() - start)
        time.sleep(IDLE)
        api = daemon.default().client().api
        memory = [
            idle_memory_mib(int(api.inspect_container(i.name)["State"]["Pid"]))
            for s in sessions
            for i in s.live_instances()
        ]
    finally:
        for session in sessions:
            lifecycle.end_session(session, reason="benchmark")
    return seconds, memory


def report(what: str, seconds: list[float], memory: list[float]) -> None:
    print(
        f"{what:<48} ready p50 {statistics.median(seconds):5.2f} s  max {max(seconds):5.2f} s   "
        f"idle memory mean {statistics.mean(memory):5.1f} MiB  max {max(memory):5.1f} MiB  (n={len(seconds)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=8)
    parser.add_argument("--root", type=Path, default=ROOT)
    parser.add_argument("--raw-only", action="store_true")
    parser.add_argument("--platform-only", action="store_true")
    args = parser.parse_args()
    if not args.platform_only:
        report("raw, sandbox engine (user namespace)", *raw(SANDBOX_ENGINE, NEW, args.count))
    system_engine = subprocess.run(["docker", "-H", SYSTEM_ENGINE, "image", "inspect", IMAGE], capture_output=True)
    if not args.platform_only and system_engine.returncode == 0:
        report("raw, system engine, the old capability set", *raw(SYSTEM_ENGINE, OLD, args.count))
    if not args.raw_only:
        report(f"platform ({args.root})", *platform(args.root, args.count))


if __name__ == "__main__":
    main()
