"""Time pulls from the registry mirror in fresh instances, and (optionally) a full rebuild of its images.

    sudo .venv/bin/python bench/mirror_pulls.py [--rounds 3] [--seed]

Each round starts two fresh instances (two sessions) and times `docker pull nginx` in the first, then in the
second, plus `docker run --rm hello-world` in the second. `--seed` first times `manage.py seed_mirror --force`
(debootstrap with a warm package cache, import, push). Runs a read-only mirror of its own on a free port and
labels its sandboxes with a deployment of its own.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as bench/mirror_pulls.py
from bench.start import one_instance, read_only_mirror, start_django  # noqa: E402
from engine.daemon import default


def timed(what: Callable[[], object]) -> float:
    started = time.monotonic()
    what()
    return time.monotonic() - started


def timed_exec(instance: str, script: str) -> float:
    """Run a shell script in an instance (it must succeed) and return how long it took."""
    from engine import execs

    started = time.monotonic()
    code, output = execs.exec_run(default(), instance, ["sh", "-c", script], timeout=300)
    assert code == 0, output.decode(errors="replace")
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", action="store_true", help="also time a forced rebuild of every image")
    args = parser.parse_args()

    start_django()
    from django.core.management import call_command

    if args.seed:
        seconds = timed(lambda: call_command("seed_mirror", force=True, stdout=io.StringIO()))
        print(f"seed_mirror --force: {seconds:.0f} s")

    figures: dict[str, list[float]] = {"first pull": [], "second pull": [], "hello-world": []}
    with read_only_mirror():
        for _ in range(args.rounds):
            with one_instance() as first, one_instance() as second:  # each in a session of its own
                figures["first pull"].append(timed_exec(first.name, "docker pull -q nginx"))
                figures["second pull"].append(timed_exec(second.name, "docker pull -q nginx"))
                figures["hello-world"].append(timed_exec(second.name, "docker run --rm hello-world"))
    for name, values in figures.items():
        print(f"{name:12} median {statistics.median(values):.2f} s  (min {min(values):.2f}, max {max(values):.2f})")


if __name__ == "__main__":
    main()
