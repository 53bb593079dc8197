"""Churn short sessions through the real worker and beat; report expiry lateness and leaked objects.

    sudo .venv/bin/python bench/expiry.py [--sessions 200] [--every 0.5] [--instance-every 4]

Runs with its own database (var/bench-expiry), Redis database 4 and deployment label, with the production
defaults for the sweep, so the figures are what a deployment sees.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as bench/expiry.py
from bench.start import ROOT, Procfile, start_django, wait_until  # noqa: E402
from engine.daemon import default

DATA_DIR = ROOT / "var" / "bench-expiry"
# An ending task that finds the session already ended returns within milliseconds.
NO_OP_SECONDS = 0.05
SWEEP_DONE = re.compile(r"sessions\.tasks\.sweep\[[^]]+\] succeeded")
ENV = {
    "DATA_DIR": str(DATA_DIR),
    "DATABASE_URL": f"sqlite:///{DATA_DIR / 'db.sqlite3'}",
    "REDIS_URL": "redis://127.0.0.1:6379/4",
    "DJANGO_SETTINGS_MODULE": "playground.settings",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--every", type=float, default=0.5, help="seconds between two session starts")
    parser.add_argument("--instance-every", type=int, default=4, help="give every Nth session one instance")
    parser.add_argument("--min-life", type=float, default=10)
    parser.add_argument("--max-life", type=float, default=30)
    args = parser.parse_args()

    shutil.rmtree(DATA_DIR, ignore_errors=True)
    DATA_DIR.mkdir(parents=True)
    start_django(env=ENV)
    from django.conf import settings
    from django.core.management import call_command
    from django.db.models import Count, DurationField, ExpressionWrapper, F

    from engine import sandboxes as engine_objects
    from sessions import lifecycle
    from sessions.models import Instance, Playground, Session

    call_command("migrate", verbosity=0)
    playground = Playground.for_host("bench.localhost")
    processes = Procfile({**os.environ}, Path(tempfile.mkdtemp(prefix="bench-expiry-")))
    processes.start("worker")
    processes.start("beat")
    print(f"sweep every {settings.SWEEP_INTERVAL}s; logs in {processes.log_dir}", flush=True)
    wait_until(lambda: SWEEP_DONE.search(processes.log("worker")), timeout=60)

    def churn(n: int) -> None:
        life = timedelta(seconds=random.uniform(args.min_life, args.max_life))
        session = lifecycle.start_session(playground, duration=life)
        if n % args.instance_every == 0:
            lifecycle.add_instance(session, lifecycle.InstanceRequest())

    started = time.monotonic()
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            futures = []
            for n in range(args.sessions):
                futures.append(pool.submit(churn, n))
                time.sleep(args.every)
            for future in futures:
                future.result()
        wait_until(lambda: not Session.objects.exclude(state=Session.State.ENDED).exists(), timeout=300)
        elapsed = time.monotonic() - started
        # Let one more sweep judge the engine, then count what is left behind.
        time.sleep(settings.SWEEP_INTERVAL * 2)
        leaked = engine_objects.labelled_objects(default())
        live_rows = Instance.objects.exclude(state=Instance.State.GONE).count()
    finally:
        processes.stop_all()

    ended = (
        Session.objects.filter(end_reason="expired", ended_at__isnull=False)
        .annotate(
            sandboxes=Count("instances"), late=ExpressionWrapper(F("ended_at") - F("expires_at"), DurationField())
        )
        .values_list("sandboxes", "late")
    )
    lateness: dict[bool, list[float]] = {True: [], False: []}
    for sandboxes_, late in ended:
        lateness[sandboxes_ > 0].append(late.total_seconds())
    every = sorted(lateness[True] + lateness[False])
    print(
        f"sessions: {len(every)} expired of {args.sessions} started, {len(lateness[True])} with an instance, "
        f"{elapsed:.0f}s"
    )
    print("expiry lateness (deadline -> everything removed):")
    for label, values in (("all", every), ("network only", lateness[False]), ("with an instance", lateness[True])):
        values.sort()
        print(
            f"  {label:>16}: p50 {percentile(values, 50):.2f}s  p99 {percentile(values, 99):.2f}s  "
            f"max {values[-1]:.2f}s"
        )
    # Lateness is mostly the engine's removal time: the run time of ending tasks that did remove something.
    runs = [float(t) for t in re.findall(r"end_session\[[^]]+\] succeeded in ([\d.]+)s", processes.log("worker"))]
    removals = sorted(t for t in runs if t > NO_OP_SECONDS)
    print(
        f"  {'removal alone':>16}: p50 {percentile(removals, 50):.2f}s  p99 {percentile(removals, 99):.2f}s  "
        f"max {removals[-1]:.2f}s  ({len(runs) - len(removals)} duplicate end tasks were no-ops)"
    )
    print(f"leaked: {sum(map(len, leaked.values()))} engine objects {leaked}, {live_rows} instance rows not gone")
    for session_id in {*Session.objects.values_list("pk", flat=True)}:
        if engine_objects.labelled_objects(default(), session_id) != {"containers": [], "volumes": [], "networks": []}:
            engine_objects.remove_session_objects(default(), session_id)


def percentile(values: list[float], p: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1] if len(values) > 1 else values[0]


if __name__ == "__main__":
    main()
