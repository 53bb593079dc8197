"""Measure how one host copes with many idle learners: CPU, memory, instance start and keystroke echo as idle
one-node sessions pile up.

    .venv/bin/python bench/density.py [--steps 50,100,200,300] [--concurrency 4] [--no-viewers]
    (as root, after bin/setup --dev)

Starts the checkout's own Procfile processes (web, worker, beat) with a
database, Redis database and deployment label of its own and the platform's default capacity settings, then
starts one-node sessions through the HTTP API, as a client would, up to each step's count, and keeps each one's
page open (a session WebSocket, as an idle learner's tab; not with --no-viewers). At N=0 and at each step,
after letting the host settle 20 s:
- CPU busy % of all CPUs over 30 s (/proc/stat; idle and iowait are not busy) and the 1-minute load average;
- memory per instance: the anonymous memory of this run's sandboxes (total_rss of their cgroups below
  `playground`), and the drop of MemAvailable since N=0, each divided by N;
- ready time: POST /sessions/{id}/instances until its 200, in a fresh session, median of 3 (ended again);
- keystroke echo p50 / p95 through the session WebSocket, 100 keys on the first idle instance (at N=0 on a
  fresh one);
- badge: from `docker run -d -p 8080:80` inside one of the fresh instances, its page open, until the page is
  told port 8080 is published ("–" when not within a minute).
Adding stops at the platform's 503 out_of_capacity. On the way out, Ctrl-C and errors included, every session is
ended, whatever still carries the run's label is removed from the engine and the processes are stopped. The
default steps take a while: bench/run runs this only when named (`bench/run density`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
import requests
from websockets.asyncio.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as bench/density.py
from bench.measure import cpu_ticks, docker, free_port, memory_cgroup, memory_stat  # noqa: E402
from bench.start import ROOT, Procfile, wait_until  # noqa: E402
from bench.terminal_client import PageTerminal  # noqa: E402
from bench.terminal_client import echo_times as type_and_time  # noqa: E402

DEPLOYMENT = f"bench-density-{os.getpid()}"
LABEL = f"label=playground.deployment={DEPLOYMENT}"
DATA_DIR = ROOT / "var" / DEPLOYMENT
REDIS_URL = "redis://127.0.0.1:6379/6"  # 0: a dev server, 3 and 4: the tests and the other benches
PROCESSES = ("web", "worker", "beat")
MAX_INSTANCES = 400
BADGE_PORT = 8080
BADGE_TIMEOUT = 60
SETTLE, CPU_WINDOW = 20.0, 30.0
READY_SAMPLES, ECHO_SAMPLES, ECHO_WARMUP = 3, 100, 10
# An instance answers within SANDBOX_READY_TIMEOUT (60 s) of its start, which waits on the engine under load.
TIMEOUT = (5, 240)
XHR = {"X-Requested-With": "XMLHttpRequest"}
MIB = 2**20
# Sessions must outlive the run and never be culled as idle, whatever the model's defaults become.
CONFIGURE = (
    "from datetime import timedelta; from sessions.models import Playground; "
    "Playground.objects.update_or_create(domain='localhost', "
    "defaults={'session_duration': timedelta(hours=24), 'idle_timeout': None})"
)


class Full(Exception):
    """The platform answered 503 out_of_capacity."""


class Platform:
    """The checkout's Procfile processes on a port of their own, each in a process group, logging under DATA_DIR."""

    def __init__(self) -> None:
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "playground.settings",
            "DATA_DIR": str(DATA_DIR),
            "DATABASE_URL": f"sqlite:///{DATA_DIR / 'db.sqlite3'}",
            "REDIS_URL": REDIS_URL,
            "SANDBOX_DEPLOYMENT": DEPLOYMENT,
            "SESSIONS_PER_CLIENT": "0",
            # 300 on this VM by default: room above it for the instances that time a start at the top step.
            "INSTANCES_PER_CORE": "200",
            "SESSION_STARTS_PER_MINUTE": "1000000",
            "WEB_BIND": "127.0.0.1",
            "WEB_PORT": str(port),
            "PYTHONUNBUFFERED": "1",
        }
        self.processes = Procfile(env, DATA_DIR)
        self.sessions: list[str] = []  # every session started, ended or not
        self.lock = threading.Lock()

    def start(self) -> None:
        DATA_DIR.mkdir(parents=True)
        manage = [sys.executable, "manage.py"]
        env = self.processes.env
        subprocess.run([*manage, "migrate", "--verbosity=0"], cwd=ROOT, env=env, check=True, timeout=120)
        configure = [*manage, "shell", "--verbosity=0", "-c", CONFIGURE]
        subprocess.run(configure, cwd=ROOT, env=env, check=True, timeout=60)
        for name in PROCESSES:
            if name in self.processes.commands:
                self.processes.start(name)

        def answers() -> bool:
            """Return whether the web server answers /ping; raise if a process has died."""
            self.processes.check()
            try:
                return requests.get(f"{self.base}/ping", timeout=5).status_code == 200
            except requests.RequestException:
                return False

        wait_until(answers, timeout=60, interval=0.5)

    def start_session(self) -> str:
        session_id = str(answer(requests.post(f"{self.base}/", headers=XHR, timeout=TIMEOUT))["session_id"])
        with self.lock:
            self.sessions.append(session_id)
        return session_id

    def add_instance(self, session_id: str) -> str:
        url = f"{self.base}/sessions/{session_id}/instances"
        return str(answer(requests.post(url, json={}, timeout=TIMEOUT))["name"])

    def end_session(self, session_id: str) -> None:
        answer(requests.delete(f"{self.base}/sessions/{session_id}", timeout=TIMEOUT))

    def one_node_session(self) -> tuple[str, str, float]:
        """Start a session with one instance; return its id, the instance's name and the instance's ready time."""
        session_id = self.start_session()
        started = time.monotonic()
        try:
            name = self.add_instance(session_id)
        except Exception:
            self.end_session(session_id)
            raise
        return session_id, name, time.monotonic() - started


def answer(response: requests.Response) -> dict[str, Any]:
    body = response.json() if response.headers.get("Content-Type") == "application/json" else {}
    if response.status_code == 503 and body.get("error") == "out_of_capacity":
        raise Full(body.get("message", ""))
    if response.status_code != 200:
        raise RuntimeError(f"{response.request.method} {response.url}: {response.status_code} {response.text[:500]}")
    return dict(body)


class Viewers:
    """Keep a learner's page open on every idle session: one session WebSocket each, read and discarded.

    That is what an idle learner costs the web process: a terminal hub per instance, attached to its tty, and
    the following of its published ports.
    """

    def __init__(self, base: str) -> None:
        self.url = base.replace("http://", "ws://")
        self.loop = asyncio.new_event_loop()
        self.tasks: list[asyncio.Task[None]] = []
        threading.Thread(target=self.loop.run_forever, daemon=True).start()

    def open(self, session_id: str) -> None:
        async def start() -> None:
            self.tasks.append(asyncio.create_task(self._view(session_id)))

        asyncio.run_coroutine_threadsafe(start(), self.loop).result(timeout=10)

    async def _view(self, session_id: str) -> None:
        async with connect(f"{self.url}/sessions/{session_id}/ws/", open_timeout=30, max_size=None) as ws:
            await ws.send(json.dumps({"name": "instance viewport resize", "args": [120, 40]}))
            async for _ in ws:
                pass

    def close(self) -> None:
        async def stop() -> None:
            for task in self.tasks:
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(timeout=60)
        self.loop.call_soon_threadsafe(self.loop.stop)


def grow(
    platform: Platform, idle: list[tuple[str, str]], target: int, concurrency: int, viewers: Viewers | None
) -> str | None:
    """Add idle one-node sessions, concurrency at a time, until there are target; return a capacity refusal."""
    refusals: list[str] = []

    def add() -> None:
        if refusals:
            return
        try:
            session_id, name, _ = platform.one_node_session()
        except Full as e:
            refusals.append(str(e))
            return
        if viewers is not None:
            viewers.open(session_id)
        with platform.lock:
            idle.append((session_id, name))

    pool = ThreadPoolExecutor(concurrency)
    try:
        for future in [pool.submit(add) for _ in range(target - len(idle))]:
            future.result()
    finally:
        pool.shutdown(cancel_futures=True)
    return refusals[0] if refusals else None


def cpu_busy_percent(seconds: float) -> float:
    busy, total = cpu_ticks()
    time.sleep(seconds)
    busy_after, total_after = cpu_ticks()
    return 100 * (busy_after - busy) / (total_after - total)


def memory_available_mib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no MemAvailable in /proc/meminfo")


def sandboxes_rss_mib() -> float:
    """Return the anonymous memory of this run's sandboxes, summed over their memory cgroups."""
    # Only this run's: other deployments (a dev server, a test run) may share the engine and its `playground`
    # cgroup. Found through each sandbox's PID 1, since `playground` lies below the engine's own memory cgroup
    # when the engine does not run in the root one.
    containers = docker("ps", "--quiet", "--filter", LABEL).split()
    pids = docker("inspect", "--format", "{{.State.Pid}}", *containers).split() if containers else []
    return sum(anonymous_memory(int(pid)) for pid in pids) / MIB


def anonymous_memory(pid: int) -> int:
    """Return the anonymous memory, in bytes, of the memory cgroup of a process (cgroup v1 or v2)."""
    folder, v1 = memory_cgroup(pid)
    return memory_stat(folder)["total_rss" if v1 else "anon"]


async def echo_times(base: str, session_id: str, instance: str) -> list[float]:
    """Type one key at a time into the instance's terminal and time until its echo; return milliseconds."""
    ws_base = base.replace("http://", "ws://")
    async with asyncio.timeout(120):
        # The `websockets` client, acknowledging nothing, as the recorded figures were measured.
        term = await PageTerminal.open(ws_base, session_id, instance, acknowledge=False, lean=False)
        try:
            return await type_and_time(term, ECHO_SAMPLES, ECHO_WARMUP)
        finally:
            await term.close()


async def badge_seconds(base: str, session_id: str, instance: str) -> float | None:
    """Publish a port inside the instance, its page open; return seconds from `docker run -p` being typed to the
    page's badge (so the container's start counts), or None when no badge came within BADGE_TIMEOUT."""
    url = base.replace("http://", "ws://") + f"/sessions/{session_id}/ws/"
    # An image of the instance's own busybox: no registry or mirror needed.
    image = ["sh", "-c", "tar -C /bin -c busybox | docker import - web >/dev/null"]
    publish = ["docker", "run", "-d", "-p", f"{BADGE_PORT}:80", "web", "/busybox", "httpd", "-f", "-p", "80"]
    async with connect(url, open_timeout=10, close_timeout=5) as ws:
        await asyncio.to_thread(docker, "exec", instance, *image, check=True)
        published = time.monotonic()
        await asyncio.to_thread(docker, "exec", instance, *publish, check=True)
        try:
            async with asyncio.timeout(BADGE_TIMEOUT):
                while True:
                    event = json.loads(await ws.recv())
                    if event["name"] == "instance docker ports" and BADGE_PORT in event["args"][0]["ports"]:
                        return time.monotonic() - published
        except TimeoutError:
            return None


HEADER = (
    "| N | CPU busy % | load1 | MiB/instance (cgroup) | MiB/instance (MemAvailable) | ready p50 s | echo p50 ms "
    "| echo p95 ms | badge s |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
)


@dataclass
class Row:
    n: int
    busy: float
    load1: float
    cgroup_mib: float | None = None
    available_mib: float | None = None
    ready: list[float] = field(default_factory=list)
    echo: list[float] = field(default_factory=list)
    badge: float | None = None
    badge_tried: bool = False

    def markdown(self) -> str:
        p95 = statistics.quantiles(self.echo, n=20)[18] if len(self.echo) > 1 else None
        cells = [
            str(self.n),
            f"{self.busy:.1f}",
            f"{self.load1:.2f}",
            _cell(self.cgroup_mib, ".1f"),
            _cell(self.available_mib, ".1f"),
            _cell(statistics.median(self.ready) if self.ready else None, ".2f"),
            _cell(statistics.median(self.echo) if self.echo else None, ".2f"),
            _cell(p95, ".2f"),
            _cell(self.badge, ".2f"),
        ]
        return f"| {' | '.join(cells)} |"


def _cell(value: float | None, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def measure(platform: Platform, idle: list[tuple[str, str]], available_at_0: float) -> Row:
    """Measure the host once it has settled; the instances started for the ready time are ended again."""
    time.sleep(SETTLE)
    platform.processes.check()
    row = Row(len(idle), cpu_busy_percent(CPU_WINDOW), os.getloadavg()[0])
    if idle:
        row.cgroup_mib = sandboxes_rss_mib() / len(idle)
        row.available_mib = (available_at_0 - memory_available_mib()) / len(idle)
        row.echo = asyncio.run(echo_times(platform.base, *idle[0]))
    for _ in range(READY_SAMPLES):
        try:
            session_id, name, seconds = platform.one_node_session()
        except Full:
            break
        try:
            row.ready.append(seconds)
            if not row.echo:  # the empty host: no idle instance to type into
                row.echo = asyncio.run(echo_times(platform.base, session_id, name))
            if not row.badge_tried:
                row.badge_tried, row.badge = True, asyncio.run(badge_seconds(platform.base, session_id, name))
        finally:
            platform.end_session(session_id)
    platform.processes.check()
    return row


def run(platform: Platform, steps: list[int], concurrency: int, rows: list[Row], viewers: Viewers | None) -> str:
    """Measure at N=0 and at every step into rows; return why adding stopped early, or an empty string."""
    idle: list[tuple[str, str]] = []
    print(HEADER, flush=True)
    available_at_0 = memory_available_mib()
    for target in [0, *steps]:
        started = time.monotonic()
        refusal = grow(platform, idle, target, concurrency, viewers)
        if target:
            print(f"({len(idle)} idle sessions, added in {time.monotonic() - started:.0f} s)", file=sys.stderr)
        rows.append(measure(platform, idle, available_at_0))
        print(rows[-1].markdown(), flush=True)
        if refusal is not None:
            return f"stopped adding at N={len(idle)} of {target}: 503 out_of_capacity: {refusal}"
    return ""


def leftovers() -> dict[str, list[str]]:
    """List what the engine still holds with this run's label."""
    return {
        "container": docker("ps", "--all", "--quiet", "--filter", LABEL).split(),
        "volume": docker("volume", "ls", "--quiet", "--filter", LABEL).split(),
        "network": docker("network", "ls", "--quiet", "--filter", LABEL).split(),
    }


def clean_up(platform: Platform) -> None:
    """End every session through the platform, stop its processes, then remove whatever the engine still holds."""
    for number in (signal.SIGINT, signal.SIGTERM):  # a second Ctrl-C must not leave sandboxes behind
        signal.signal(number, signal.SIG_IGN)
    print(f"ending {len(platform.sessions)} sessions and stopping the platform", flush=True)
    if platform.processes.running.get("web") and platform.processes.running["web"].poll() is None:
        _each(platform.end_session, platform.sessions, workers=4)
    platform.processes.stop_all()
    removers = {"container": ["rm", "--force", "--volumes"], "volume": ["volume", "rm", "--force"]}
    for kind, names in leftovers().items():  # containers first: they hold the volumes and networks
        if names:
            docker(*removers.get(kind, ["network", "rm"]), *names)
    left = leftovers()
    redis.Redis.from_url(REDIS_URL).flushdb()
    if any(left.values()):
        print(f"LEFT BEHIND on the engine: {left}; logs in {DATA_DIR}", file=sys.stderr, flush=True)
    else:
        shutil.rmtree(DATA_DIR, ignore_errors=True)


def _each(do: Callable[[str], None], items: list[str], workers: int) -> None:
    def quietly(item: str) -> None:
        try:
            do(item)
        except Exception as e:
            print(f"  {item}: {e}", file=sys.stderr, flush=True)

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(quietly, items))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", default="50,100,200,300", help="idle sessions to measure at, increasing")
    parser.add_argument("--concurrency", type=int, default=4, help="sessions started at once")
    parser.add_argument("--no-viewers", action="store_true", help="leave the idle sessions without an open page")
    args = parser.parse_args()
    steps = [int(n) for n in args.steps.split(",")]
    if steps != sorted(set(steps)) or not 0 < steps[0] <= steps[-1] <= MAX_INSTANCES:
        parser.error(f"--steps must increase, from 1 to at most {MAX_INSTANCES}")
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    print(f"{os.cpu_count()} CPUs; deployment {DEPLOYMENT}; Procfile: {', '.join(PROCESSES)} where present", flush=True)
    platform = Platform()
    rows: list[Row] = []
    try:
        platform.start()
        print(f"running: {', '.join(platform.processes.running)} on {platform.base}", flush=True)
        viewers = None if args.no_viewers else Viewers(platform.base)
        try:
            stopped = run(platform, steps, max(1, args.concurrency), rows, viewers)
        finally:
            if viewers is not None:
                viewers.close()
    finally:
        clean_up(platform)
    print("\n".join(["", HEADER, *(row.markdown() for row in rows), stopped]))


if __name__ == "__main__":
    main()
