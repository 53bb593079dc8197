"""A 30-seat workshop's first minute: every learner clicks Join at once; seconds from each click to an `echo`
answered through its terminal's WebSocket, with the workshop's warm pool booted ahead and without; with the pool
also as a room really arrives, one learner every --spread / --seats seconds.

    .venv/bin/python bench/workshop.py [--seats 30] [--spread 15] [--boots 4] [--rounds 1]
        [--cases instant,spread,cold] [--static] [--web 1]

Each learner is a thread of its own with its own cookies: it loads the join form (outside the timing), waits for
the others, then POSTs its name (the click), loads its session page, opens the session WebSocket, waits for the
prompt and types `echo ready-$((6*7))`; its latency ends when `ready-42` comes back. The site is a real Daphne on
a free port (var/bench.sqlite3), with no Celery: this process boots the pool (keep_warm and boot, --boots at
once) before the timing starts, as the beat and workers would during WORKSHOP_WARM_LEAD. Memory per warm seat:
the anonymous memory of each booted node's cgroup, 20 s after the pool is full.

Per room it also prints how long each phase took (p50 / max: the join POST, the page, its static files with
--static, the WebSocket's opening, the first prompt, the echo), how many learners found no warm session ready
and started cold, and the CPU seconds the machine, the Daphnes and the learners' threads used meanwhile. --web N
serves the port with N Daphnes (an experiment: terminal hubs are per process, issue 17).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import requests
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Origin

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as bench/workshop.py
from bench.measure import docker, memory_cgroup, memory_stat  # noqa: E402
from bench.start import ROOT, serve_many_on_free_port, start_django, wait_until  # noqa: E402

start_django(
    env={
        "WARM_POOL_SIZE": "0",  # only the workshop's pool
        # Every room here joins from 127.0.0.1, one after the other: a real room's address takes one room a minute.
        "WORKSHOP_SEATS_PER_ADDRESS_LIMIT": "false",
        "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/3"),
        "DATABASE_URL": f"sqlite:///{ROOT / 'var' / 'bench.sqlite3'}",
    }
)

from django.conf import settings  # noqa: E402
from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connections  # noqa: E402
from django.utils import timezone  # noqa: E402

from sessions import lifecycle, warm  # noqa: E402
from sessions.models import Playground, Session  # noqa: E402
from workshops import pooling  # noqa: E402
from workshops.models import Workshop  # noqa: E402

PROMPT = "(local) root@"
LEARNER_TIMEOUT = 300.0
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


@dataclass
class Learner:
    """When a learner clicked Join, and when each phase of its first minute ended (time.monotonic())."""

    clicked: float
    marks: dict[str, float]

    @property
    def echoed(self) -> float:
        return self.marks["echo"]


# The phases of a learner's first minute, each ended by the mark of that name (seconds after its click).
PHASES = ("join", "page", "static", "socket", "prompt", "echo")
STATIC = re.compile(r'(?:src|href)="(/static/[^"]+)"')


def learner(base: str, code: str, n: int, together: threading.Barrier, gap: float, static: bool) -> Learner:
    """Join as one learner, n * gap seconds after all are ready; return when it clicked and when each phase ended."""
    http = requests.Session()
    http.trust_env = False  # loopback only, never through a proxy
    found = CSRF.search(http.get(f"{base}/w/{code}", timeout=30).text)
    assert found, "no join form"
    together.wait(timeout=60)
    time.sleep(n * gap)
    clicked = time.monotonic()
    marks: dict[str, float] = {}
    joined = http.post(
        f"{base}/w/{code}",
        data={"name": f"learner {n}", "csrfmiddlewaretoken": found[1]},
        allow_redirects=False,
        timeout=LEARNER_TIMEOUT,
    )
    assert joined.status_code == 302, f"learner {n}: {joined.status_code} {joined.text[:300]}"
    marks["join"] = time.monotonic()
    page = joined.headers["Location"]
    html = http.get(base + page, timeout=LEARNER_TIMEOUT)
    html.raise_for_status()
    marks["page"] = time.monotonic()
    if static:  # what a browser loads before the page's scripts open the socket (no cache: a first visit)
        for asset in dict.fromkeys(STATIC.findall(html.text)):
            http.get(base + asset, timeout=LEARNER_TIMEOUT).raise_for_status()
    marks["static"] = time.monotonic()
    ws_url = base.replace("http://", "ws://") + f"/sessions/{page.split('/p/')[1]}/ws/"
    with connect(ws_url, origin=Origin(base), open_timeout=LEARNER_TIMEOUT, max_size=None, proxy=None) as ws:
        marks["socket"] = time.monotonic()
        instance = read_until(ws, PROMPT, clicked)
        marks["prompt"] = time.monotonic()
        ws.send(json.dumps({"name": "instance terminal in", "args": [instance, "echo ready-$((6*7))\r"]}))
        read_until(ws, "ready-42", clicked)
        marks["echo"] = time.monotonic()
    return Learner(clicked, marks)


def read_until(ws: ClientConnection, needle: str, since: float) -> str:
    """Read terminal output until needle shows; return the instance that showed it."""
    seen: dict[str, str] = {}
    while time.monotonic() - since < LEARNER_TIMEOUT:
        event = json.loads(ws.recv(timeout=LEARNER_TIMEOUT))
        if event["name"] == "instance terminal out":
            name, data = event["args"]
            seen[name] = seen.get(name, "")[-4000:] + data
            if needle in seen[name]:
                return str(name)
    raise TimeoutError(f"no {needle!r} after {LEARNER_TIMEOUT} s")


def room(base: str, code: str, seats: int, spread: float = 0.0, static: bool = False) -> list[Learner]:
    """Seat every learner, all at once or one every spread / seats seconds; return each one's phases."""
    together = threading.Barrier(seats)
    gap = spread / seats
    with ThreadPoolExecutor(seats) as threads:
        return list(threads.map(lambda n: learner(base, code, n, together, gap, static), range(seats)))


def fill(workshop: Workshop, boots: int) -> float:
    """Boot the workshop's pool full, `boots` sessions at once; return the seconds it took."""
    settings.WARM_POOL_BOOTS_AT_ONCE = boots
    key = pooling.spec_of(workshop).key
    started = time.monotonic()

    def boot(session_id: str) -> None:
        try:
            warm.boot(session_id)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(boots) as threads:
        while Session.objects.warm(key).ready(1).count() < workshop.seats:
            if time.monotonic() - started > 900:
                raise TimeoutError("the pool did not fill in 900 s")
            reserved, _ = warm.keep_warm()
            list(threads.map(boot, reserved))
            if not reserved:
                time.sleep(0.5)
    return time.monotonic() - started


def seat_memory_mib(key: str) -> list[float]:
    """Return the anonymous memory of each warm session's node, in MiB."""
    sizes = []
    for session in Session.objects.warm(key):
        for name in session.live_instances().values_list("name", flat=True):
            folder, v1 = memory_cgroup(int(docker("inspect", "-f", "{{.State.Pid}}", name)))
            sizes.append(memory_stat(folder)["total_rss" if v1 else "anon"] / 2**20)
    return sizes


def new_workshop(seats: int, warm_pool: int) -> Workshop:
    trainer, _ = User.objects.get_or_create(username="bench-trainer")
    now = timezone.now()
    return Workshop.objects.create(
        title="bench",
        trainer=trainer,
        playground=Playground.for_host(settings.PLAYGROUND_DOMAIN),
        seats=seats,
        starts_at=now - timedelta(minutes=1),
        ends_at=now + timedelta(hours=2),
        instances=1,
        warm_pool=warm_pool,
    )


def report(how: str, learners: list[Learner]) -> None:
    """Print the first prompts' spread, then how long each phase took (p50 / max), to see what dominates."""
    ordered = sorted(one.echoed - one.clicked for one in learners)
    everyone = max(one.echoed for one in learners) - min(one.clicked for one in learners)
    within = sum(1 for s in ordered if s <= 0.5)
    print(
        f"{how}: first prompt after the click p50 {statistics.median(ordered):.2f} s, p95 {_p95(ordered):.2f} s, "
        f"max {ordered[-1]:.2f} s (all {len(ordered)} working {everyone:.2f} s after the first click); "
        f"{within}/{len(ordered)} within 0.5 s",
        flush=True,
    )
    took = []
    for phase, before in zip(PHASES, ("clicked", *PHASES), strict=False):
        spans = sorted(
            one.marks[phase] - (one.clicked if before == "clicked" else one.marks[before]) for one in learners
        )
        took.append(f"{phase} {statistics.median(spans):.2f}/{spans[-1]:.2f}")
    print(f"  phases p50/max s: {', '.join(took)}", flush=True)


def _p95(ordered: list[float]) -> float:
    return ordered[max(0, round(0.95 * len(ordered)) - 1)]


def up(base: str) -> bool:
    """the site answers /ping"""
    http = requests.Session()
    http.trust_env = False
    try:
        return http.get(base + "/ping", timeout=5).ok
    except requests.ConnectionError:
        return False


def end_everything() -> None:
    for session in Session.objects.exclude(state=Session.State.ENDED):
        lifecycle.end_session(session, reason="benchmark done")
    Workshop.objects.filter(title="bench").delete()


CASES = ("instant", "spread", "cold")


def cpu_seconds(servers: list[subprocess.Popen[bytes]]) -> dict[str, float]:
    """Return the CPU seconds used so far by the whole machine (busy, every core), the Daphnes, and this process."""
    tick = os.sysconf("SC_CLK_TCK")
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    daphne = 0
    for server in servers:
        stat = Path(f"/proc/{server.pid}/stat").read_text().rsplit(")", 1)[1].split()
        daphne += int(stat[11]) + int(stat[12])  # utime, stime
    mine = os.times()
    return {
        "machine": (user + nice + system + irq + softirq + steal) / tick,
        "daphne": daphne / tick,
        "learners": mine.user + mine.system,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seats", type=int, default=30)
    parser.add_argument("--spread", type=float, default=15.0, help="seconds over which a room's learners arrive")
    parser.add_argument("--boots", type=int, default=4, help="warm sessions booted at once while filling the pool")
    parser.add_argument("--rounds", type=int, default=1, help="times each case runs, each with a fresh room")
    parser.add_argument(
        "--web", type=int, default=1, help="Daphne processes sharing the port (an experiment: hubs are per process)"
    )
    parser.add_argument("--static", action="store_true", help="each learner also loads the page's static files")
    parser.add_argument(
        "--cases",
        default=",".join(CASES),
        help="which rooms, of: instant (warm pool, all in one instant), "
        "spread (warm pool, arriving over --spread), cold (no pool, all in one instant)",
    )
    args = parser.parse_args()
    cases = args.cases.split(",")
    if not set(cases) <= set(CASES):
        parser.error(f"--cases takes {', '.join(CASES)}")
    call_command("migrate", verbosity=0)
    end_everything()
    daphne = [sys.executable, "-m", "daphne", "--fd", "{fd}", "playground.asgi:application"]
    servers, base = serve_many_on_free_port(daphne, args.web)
    print(f"{args.web} Daphne process(es)", flush=True)
    try:
        wait_until(lambda: up(base), 30)
        measured = False
        for _ in range(args.rounds):
            for case in cases:
                run_case(case, base, servers, args, measure_memory=not measured)
                measured = True
    finally:
        end_everything()
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(timeout=15)


def run_case(
    case: str, base: str, servers: list[subprocess.Popen[bytes]], args: argparse.Namespace, measure_memory: bool
) -> None:
    """Seat a fresh room of learners as the case says, and print how long they took."""
    print(f"load average at the start: {os.getloadavg()[0]:.2f}", flush=True)
    workshop = new_workshop(args.seats, warm_pool=0 if case == "cold" else args.seats)
    if case != "cold":
        booted = fill(workshop, args.boots)
        time.sleep(20)  # what the sandboxes hold once their engines settle, as bench/sandboxes.py measures
        if measure_memory:
            sizes = seat_memory_mib(pooling.spec_of(workshop).key)
            print(f"pool of {args.seats} booted in {booted:.1f} s ({args.boots} at once)", flush=True)
            print(
                f"memory per warm seat ({len(sizes)} nodes, anon): mean {statistics.mean(sizes):.1f} MiB, "
                f"max {max(sizes):.1f} MiB",
                flush=True,
            )
    spread = args.spread if case == "spread" else 0.0
    how = {"instant": "warm pool, all at once", "spread": f"warm pool, arriving over {args.spread:.0f} s"}
    before = cpu_seconds(servers)
    learners = room(base, workshop.code, args.seats, spread, args.static)
    report(how.get(case, "no pool, all at once"), learners)
    used = {who: seconds - before[who] for who, seconds in cpu_seconds(servers).items()}
    wall = max(one.echoed for one in learners) - min(one.clicked for one in learners)
    print(
        f"  CPU over those {wall:.2f} s, of {os.cpu_count()} cores: machine {used['machine']:.2f} s, "
        f"Daphne {used['daphne']:.2f} s, these learners (this process) {used['learners']:.2f} s",
        flush=True,
    )
    if case != "cold":
        # A learner who found no warm session ready started one cold: as many as the pool still holds.
        left = Session.objects.warm(pooling.spec(workshop, 0).key).count()
        print(f"  warm sessions left unclaimed (learners who started cold): {left}", flush=True)
    end_everything()


if __name__ == "__main__":
    main()
