"""Benchmark the SSH gateway against raw `docker exec`: echo round trip and output throughput.

Run from the project root: `.venv/bin/python bench/ssh_gateway.py` (needs bin/setup; uses the dev database).
It starts a session with one instance and a gateway on a free port, measures, and removes everything again.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as bench/ssh_gateway.py
from bench.measure import docker_argv  # noqa: E402
from bench.start import ROOT, one_instance, start_django  # noqa: E402

ECHOES = 200
ROUNDS = 5
THROUGHPUT_BYTES = 128 * 1024 * 1024


def ssh_command(port: str, user: str, workdir: Path) -> list[str]:
    """Return OpenSSH's ssh to user@127.0.0.1:port, taking any host key and keeping it in workdir."""
    known_hosts = ["-o", "StrictHostKeyChecking=no", "-o", f"UserKnownHostsFile={workdir}/kh"]
    return ["ssh", "-F", "/dev/null", *known_hosts, "-p", port, f"{user}@127.0.0.1"]


def echo_round_trip(command: list[str]) -> float:
    """Send one byte at a time to `cat` through command; return the median round trip in milliseconds."""
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
    assert process.stdin and process.stdout
    times = []
    for i in range(ECHOES + 20):
        start = time.perf_counter()
        process.stdin.write(b"x")
        assert process.stdout.read(1) == b"x"
        if i >= 20:  # the first ones warm up connections and caches
            times.append((time.perf_counter() - start) * 1000)
    process.stdin.close()
    process.wait(30)
    return statistics.median(times)


def throughput(command: list[str]) -> float:
    """Return MB/s of output read from command."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, bufsize=0)
    assert process.stdout
    received = 0
    while chunk := process.stdout.read(1 << 20):
        received += len(chunk)
    process.wait(60)
    assert received == THROUGHPUT_BYTES, received
    return received / (time.perf_counter() - start) / 1e6


def cpu_seconds(pid: int) -> float:
    """Return the user + system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    """Return the user + system CPU time of every child process waited for so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def client_cpu(command: list[str]) -> float:
    """Return the CPU-seconds per GB that command (ssh, or the docker CLI) spends reading the throughput output."""
    before = children_cpu_seconds()
    throughput(command)
    return (children_cpu_seconds() - before) / (THROUGHPUT_BYTES / 1e9)


def paired(measure: Callable[[list[str]], float], ssh: list[str], docker: list[str]) -> list[tuple[float, float]]:
    """Measure both ways alternately, so a machine busy with other work slows both alike."""
    return [(measure(ssh), measure(docker)) for _ in range(ROUNDS)]


def main() -> None:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    start_django()
    workdir = Path(tempfile.mkdtemp(prefix="bench-ssh-"))
    with one_instance() as instance:
        gateway = subprocess.Popen(
            [sys.executable, "manage.py", "run_ssh_gateway", "--bind", "127.0.0.1", "--port", "0"],
            cwd=ROOT,
            env={**os.environ, "SSH_GATEWAY_HOST_KEY": str(workdir / "host_key")},
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert gateway.stdout
            port = gateway.stdout.readline().rsplit(":", 1)[1].strip()
            ssh = ssh_command(port, instance.proxy_host, workdir)
            docker = docker_argv("exec", "-i", instance.name)
            head = f"head -c {THROUGHPUT_BYTES} /dev/zero"

            echoes = paired(echo_round_trip, [*ssh, "cat"], [*docker, "cat"])
            cpu_before = cpu_seconds(gateway.pid)
            rates = paired(throughput, [*ssh, head], [*docker, "sh", "-c", head])
            gateway_cpu = (cpu_seconds(gateway.pid) - cpu_before) / (ROUNDS * THROUGHPUT_BYTES / 1e9)
            clients = paired(client_cpu, [*ssh, head], [*docker, "sh", "-c", head])
        finally:
            gateway.terminate()

    print(f"{ROUNDS} alternating rounds; each figure is the median over rounds, each ratio the median ratio.\n")
    print("| measure | ssh gateway | docker exec | ratio | retired goal |\n|---|---|---|---|---|")
    print(_row(f"echo round trip, median of {ECHOES} (ms)", echoes, "{:.3f}", "≤ 1.5×"))
    print(_row(f"output throughput, {THROUGHPUT_BYTES >> 20} MiB (MB/s)", rates, "{:.0f}", "≥ 0.7×"))
    print(f"\nCPU-seconds per GB streamed: gateway {gateway_cpu:.1f}", end="")
    print(f", ssh client {statistics.median(a for a, _ in clients):.1f}", end="")
    print(f", docker CLI {statistics.median(b for _, b in clients):.1f}")


def _row(label: str, pairs: list[tuple[float, float]], fmt: str, goal: str) -> str:
    ssh = statistics.median(a for a, _ in pairs)
    docker = statistics.median(b for _, b in pairs)
    ratio = statistics.median(a / b for a, b in pairs)
    return f"| {label} | {fmt.format(ssh)} | {fmt.format(docker)} | {ratio:.2f}× | {goal} |"


if __name__ == "__main__":
    main()
