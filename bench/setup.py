"""Seconds from POST /sessions/{id}/setup of PWD's 3 managers + 2 workers to five Ready nodes, beside one cold
instance in the same run (goal: at most twice as long, the nodes booting in parallel).

    .venv/bin/python bench/setup.py [--rounds 3]

Each round, one after the other, each in a fresh session: one instance (`POST …/instances`); five plain nodes
(`POST …/setup`, no swarm: the parallel boot alone); the 3 + 2 swarm, until `docker node ls` on manager1 lists
five Ready nodes. Requests go through Django's test client in this process, so the figures include parsing and
the JSON answer but no network.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as bench/setup.py
from bench.measure import docker  # noqa: E402
from bench.start import start_django, wait_until  # noqa: E402

SWARM = [
    *({"hostname": f"manager{n}", "is_swarm_manager": True} for n in (1, 2, 3)),
    *({"hostname": f"worker{n}", "is_swarm_worker": True} for n in (1, 2)),
]
PLAIN = [{"hostname": f"node{n}"} for n in range(1, 6)]


def timed_post(client: object, url: str, body: object) -> tuple[float, dict[str, object]]:
    start = time.monotonic()
    response = client.post(url, json.dumps(body), content_type="application/json")  # type: ignore[attr-defined]
    seconds = time.monotonic() - start
    if response.status_code != 200:
        raise RuntimeError(f"{url}: {response.status_code} {response.content[:500]!r}")
    return seconds, dict(response.json())


def five_ready(manager: str) -> bool:
    """five nodes are Ready in the swarm"""
    statuses = docker("exec", manager, "docker", "node", "ls", "--format", "{{.Status}}").split()
    return statuses.count("Ready") == 5


def one_round(client: object) -> tuple[float, float, float]:
    from sessions import lifecycle
    from sessions.models import Playground, Session

    playground = Playground.for_host("localhost")
    sessions: list[Session] = []
    try:
        sessions.append(lifecycle.start_session(playground))
        one, _ = timed_post(client, f"/sessions/{sessions[-1].id}/instances", {})
        sessions.append(lifecycle.start_session(playground))
        plain, _ = timed_post(client, f"/sessions/{sessions[-1].id}/setup", {"instances": PLAIN})
        sessions.append(lifecycle.start_session(playground))
        start = time.monotonic()
        _, answer = timed_post(client, f"/sessions/{sessions[-1].id}/setup", {"instances": SWARM})
        manager = answer["instances"][0]["name"]  # type: ignore[index]
        wait_until(lambda: five_ready(manager), timeout=60, interval=0.05)
        swarm = time.monotonic() - start
    finally:
        for session in sessions:
            lifecycle.end_session(session, reason="benchmark done")
    return one, plain, swarm


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    start_django(env={"SESSIONS_PER_CLIENT": "0", "SESSION_STARTS_PER_MINUTE": "0"})
    from django.test import Client

    client = Client()
    rounds = [one_round(client) for _ in range(args.rounds)]
    one, plain, swarm = (statistics.median(figures) for figures in zip(*rounds, strict=True))
    for n, (a, b, c) in enumerate(rounds, 1):
        print(f"round {n}: one instance {a:5.2f} s   5 plain nodes {b:5.2f} s   3 + 2 swarm to 5 Ready {c:5.2f} s")
    print(
        f"median of {args.rounds}: one instance {one:.2f} s, 5 plain nodes {plain:.2f} s ({plain / one:.1f}x), "
        f"3 + 2 swarm {swarm:.2f} s ({swarm / one:.1f}x; goal at most 2x)"
    )


if __name__ == "__main__":
    main()
