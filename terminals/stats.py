"""Tell an instance's viewers its CPU, memory and network use every few seconds, while anyone views it.

The hub follows an instance's use as it follows its ports: once per instance, whatever the number of viewers,
and not at all while nobody views it (idle costs nothing). The counters come from the host's engine, never from
the instance (engine/usage.py). The event is PWD's `instance stats`, whose `cpu` and `mem` strings PWD's page
showed, with the numbers beside them.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable

import engine
from engine import usage
from engine.daemon import Daemon

log = logging.getLogger(__name__)

SECONDS = 3.0
# The first figures come this soon after following starts (rates need two samples).
FIRST_SECONDS = 1.0
TIMEOUT_SECONDS = 5.0
RETRY_SECONDS = (1, 2, 5, 10)
# Calls at once per web process, so a slow engine is not asked for every viewed instance at the same time. The
# engine answers each at its next second's sample (half a second on average): 32 keep some 100 viewed instances
# at one call every SECONDS; past that, their figures come less often.
CALLS_AT_ONCE = 32
UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")

# When a sample was taken (loop time), and the counters then.
Sample = tuple[float, usage.Usage]
Tell = Callable[[dict[str, object]], Awaitable[None]]
# A semaphore belongs to one event loop (tests run one per test).
_turns: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = weakref.WeakKeyDictionary()


async def follow(daemon: Daemon, instance: str, tell: Tell) -> None:
    """Tell the instance's use every SECONDS until cancelled or the instance is gone; while the engine fails, ask it
    ever less often."""
    loop = asyncio.get_running_loop()
    turns = _turns.setdefault(loop, asyncio.Semaphore(CALLS_AT_ONCE))
    failures, previous = 0, None
    while True:
        asked = loop.time()
        try:
            async with turns:
                counted = await usage.usage(daemon, instance, TIMEOUT_SECONDS)
        except usage.Gone:
            return
        except Exception as e:
            if isinstance(e, engine.EngineError):
                log.info("cannot tell the usage of %s: %s", instance, e)
            else:
                # A bug must not stop the figures for good, nor take the ports with it (the hub follows both).
                log.exception("following the usage of %s failed", instance)
            failures, previous = failures + 1, None
            await asyncio.sleep(RETRY_SECONDS[min(failures, len(RETRY_SECONDS)) - 1])
            continue
        failures, sample = 0, (loop.time(), counted)
        if previous is not None:
            await tell(event(instance, previous, sample))
        # Every SECONDS from one call to the next, however long the engine took to answer.
        await asyncio.sleep(max(0.0, asked + (SECONDS if previous is not None else FIRST_SECONDS) - loop.time()))
        previous = sample


def event(instance: str, before: Sample, after: Sample) -> dict[str, object]:
    """Return PWD's `instance stats` argument for the use between two samples, numbers beside its strings."""
    (then, old), (now, new) = before, after
    seconds = max(now - then, 0.001)
    system = new.system_ns - old.system_ns
    # As `docker stats` counts it: 100% is one core's worth.
    cpu = (new.cpu_ns - old.cpu_ns) / system * new.cpus * 100 if system > 0 else 0.0
    cpu = min(max(cpu, 0.0), new.cpus * 100.0)
    memory = 100 * new.memory / new.memory_limit
    return {
        "instance": instance,
        "cpu": f"{cpu:.2f}%",
        "mem": f"{memory:.2f}% ({size(new.memory)} / {size(new.memory_limit)})",
        "cpu_percent": round(cpu, 2),
        "mem_bytes": new.memory,
        "mem_limit_bytes": new.memory_limit,
        # A counter that went back (the sandbox restarted) counts as nothing moved.
        "rx_bytes_per_second": round(max(new.rx - old.rx, 0) / seconds),
        "tx_bytes_per_second": round(max(new.tx - old.tx, 0) / seconds),
    }


def size(count: float) -> str:
    """Write a byte count as PWD did (Docker's go-units BytesSize): "92.5MiB", "2GiB"."""
    unit = 0
    while count >= 1024 and unit < len(UNITS) - 1:
        count /= 1024
        unit += 1
    return f"{count:.4g}{UNITS[unit]}"
