"""Seconds from a click on Start to node1's first prompt in Debian's chromium, with and without the warm pool, and
the memory a warm seat holds while it waits.

    .venv/bin/python bench/first_prompt.py [--rounds 5]

Cold: click Start, land on the session page, click "Add new instance", wait for the prompt. Warm: one session of
the public pool booted ahead (WARM_POOL_SIZE=1, refilled in this process before each round, as the beat would),
click Start, wait for the prompt. Rounds alternate cold and warm, so a busy moment slows both alike. The site is a
real Daphne on a free port (var/bench.sqlite3); memory is the anonymous memory of the warm seats' sandbox cgroups
(total_rss), 20 s after they booted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as bench/first_prompt.py
from bench.measure import docker, memory_cgroup, memory_stat  # noqa: E402
from bench.start import CHROMIUM, CHROMIUM_ARGS, ROOT, start_daphne, start_django, wait_until  # noqa: E402

LIMITS_OFF = {"SESSIONS_PER_CLIENT": "0", "SESSION_STARTS_PER_MINUTE": "0"}
start_django(
    env={
        **LIMITS_OFF,
        "WARM_POOL_SIZE": "1",
        "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/3"),
        "DATABASE_URL": f"sqlite:///{ROOT / 'var' / 'bench.sqlite3'}",
    }
)

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402

from sessions import lifecycle, pools, warm  # noqa: E402
from sessions.models import Playground, Session  # noqa: E402

PROMPT = "[node1]"
T = TypeVar("T")


def fill(size: int) -> list[str]:
    """Boot the public pool up to size, here and now; return its ready sessions."""
    settings.WARM_POOL_SIZE = settings.WARM_POOL_BOOTS_AT_ONCE = size
    reserved, _ = warm.keep_warm()
    for session_id in reserved:
        warm.boot(session_id)
    spec = pools.public(Playground.for_host(settings.PLAYGROUND_DOMAIN))
    return list(Session.objects.warm(spec.key).ready(spec.instances).values_list("pk", flat=True))


def to_prompt(page: Page, base: str, add_instance: bool) -> tuple[float, float]:
    """Click Start; return the seconds to the session page and to node1's prompt."""
    page.goto(base + "/")
    start = time.monotonic()
    page.click("#start")
    page.wait_for_url("**/p/*")
    landed = time.monotonic() - start
    if add_instance:
        page.click("#add-instance")
    expect(page.locator(".pane.active .xterm-rows")).to_contain_text(PROMPT, timeout=60_000)
    return landed, time.monotonic() - start


def seat_memory_mib(session_ids: list[str]) -> list[float]:
    """Return the anonymous memory of each warm session's node1 sandbox, in MiB."""
    sizes = []
    for session_id in session_ids:
        for name in Session.objects.get(pk=session_id).live_instances().values_list("name", flat=True):
            pid = int(docker("inspect", "-f", "{{.State.Pid}}", name))
            folder, v1 = memory_cgroup(pid)
            sizes.append(memory_stat(folder)["total_rss" if v1 else "anon"] / 2**20)
    return sizes


def off_loop(work: Callable[..., T], *args: object) -> T:
    """Run work in a thread of its own: Playwright's sync API keeps an event loop in this one, where neither
    the ORM nor the channel layer's publishing may run."""
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(work, *args).result()


def end_everything() -> None:
    for session in Session.objects.exclude(state=Session.State.ENDED):
        lifecycle.end_session(session, reason="benchmark done")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seats", type=int, default=3, help="warm seats booted to measure their memory")
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    server, base = start_daphne()
    times: dict[str, list[tuple[float, float]]] = {"cold": [], "warm": []}
    try:
        wait_until(lambda: subprocess.run(["curl", "-sf", base + "/ping"], capture_output=True).returncode == 0, 30)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            for n in range(args.rounds):
                times["cold"].append(to_prompt(page, base, add_instance=True))
                assert len(off_loop(fill, 1)) == 1, "the pool did not fill"
                times["warm"].append(to_prompt(page, base, add_instance=False))
                off_loop(end_everything)
                cold, hot = times["cold"][-1], times["warm"][-1]
                print(
                    f"round {n + 1}: cold {cold[0]:.2f} s to the page, {cold[1]:.2f} s to the prompt; "
                    f"warm {hot[0]:.2f} s to the page, {hot[1]:.2f} s to the prompt"
                )
            browser.close()
        for how, figures in times.items():
            page_s, prompt_s = zip(*figures, strict=True)
            print(
                f"{how}: median {statistics.median(page_s):.2f} s to the page, "
                f"{statistics.median(prompt_s):.2f} s to the prompt (max {max(prompt_s):.2f} s)"
            )
        seats = fill(args.seats)
        time.sleep(20)  # what the sandboxes hold once their engines settle, as bench/sandboxes.py measures
        sizes = seat_memory_mib(seats)
        print(
            f"memory per warm seat ({len(sizes)} nodes, cgroup total_rss): mean {statistics.mean(sizes):.1f} MiB, "
            f"max {max(sizes):.1f} MiB"
        )
    finally:
        end_everything()
        server.terminate()
        server.wait(timeout=15)


if __name__ == "__main__":
    main()
