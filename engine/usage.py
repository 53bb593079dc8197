"""A sandbox's CPU, memory and network counters, as the host's engine counts them (never as the sandbox says).

The engine is the trusted side; still, its answer is read within a deadline and up to ANSWER_LIMIT (it names
the network interfaces the engine made, not those the learner makes inside: a few hundred bytes each), and
only counters that are non-negative integers are taken from it.
"""

from __future__ import annotations

import asyncio
import json
import random
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from engine import ENGINE_ERRORS, EngineError
from engine.daemon import LABEL_ROLE, Daemon, run_blocking

# A sandbox's answer is about 2 KiB.
ANSWER_LIMIT = 256 * 1024


class Gone(EngineError):
    """The engine has no such sandbox (any more)."""


@dataclass(frozen=True)
class Usage:
    """A sandbox's counters at one moment; rates come from two of them."""

    cpu_ns: int  # CPU time the sandbox has used
    system_ns: int  # CPU time the host has used, all cores together
    cpus: int  # the host's cores online
    memory: int  # bytes in use, less the page cache the kernel may drop (as `docker stats` counts)
    memory_limit: int
    rx: int  # bytes received on the interfaces the engine made (eth0 on the session network)
    tx: int  # bytes sent on them


async def usage(daemon: Daemon, name: str, timeout: float) -> Usage:
    """Return a running sandbox's counters; raise Gone if there is no such sandbox, EngineError if the engine
    fails, is late or answers too much."""
    try:
        async with asyncio.timeout(timeout):
            answer = await _get(daemon, f"/containers/{quote(name)}/stats?stream=false&one-shot=true")
    except TimeoutError:
        raise EngineError(f"the engine did not tell the usage of {name} within {timeout:.0f} s") from None
    try:
        stats = json.loads(answer)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise EngineError(f"the engine told the usage of {name} in a form not understood: {e}") from e
    found = parse(stats if isinstance(stats, dict) else {})
    if found is None:
        raise EngineError(f"{name} is not running")
    return found


def sandboxes_memory(daemon: Daemon, sample: int, timeout: float) -> int | None:
    """Return the median memory of up to `sample` running sandboxes of the engine (any deployment's), drawn at
    random, or None when it runs none; blocking, for a caller off the event loop. Raise EngineError when the
    engine cannot list them.

    At random, not the first listed (the newest: warm sessions and ones still booting); the median, so a learner
    whose instance fills its memory limit moves the figure no more than any other sandbox does.
    """
    try:
        running = daemon.api(int(timeout)).containers(filters={"label": f"{LABEL_ROLE}=sandbox", "status": "running"})
    except ENGINE_ERRORS as e:
        raise EngineError(f"the engine did not list its sandboxes: {e}") from e
    ids = [str(c["Id"]) for c in running if isinstance(c, dict) and "Id" in c]
    chosen = random.sample(ids, min(sample, len(ids)))
    if not chosen:
        return None

    async def gather() -> list[Usage | BaseException]:
        async with asyncio.timeout(timeout):  # one deadline for the whole sample
            return await asyncio.gather(*(usage(daemon, name, timeout) for name in chosen), return_exceptions=True)

    try:
        memories = sorted(found.memory for found in asyncio.run(gather()) if isinstance(found, Usage))
    except TimeoutError:
        raise EngineError(f"the engine did not tell its sandboxes' memory within {timeout:.0f} s") from None
    return memories[len(memories) // 2] if memories else None


def parse(stats: dict[str, Any]) -> Usage | None:
    """Return the counters in the engine's stats answer; None when it has none (the sandbox is not running)."""
    memory = _object(stats, "memory_stats")
    used, limit = _count(memory.get("usage")), _count(memory.get("limit"))
    if not limit:
        return None
    cache = _object(memory, "stats")
    # total_inactive_file under cgroup v1, inactive_file under v2.
    inactive = _count(cache.get("total_inactive_file", cache.get("inactive_file")))
    cpu = _object(stats, "cpu_stats")
    networks = [value for value in _object(stats, "networks").values() if isinstance(value, dict)]
    return Usage(
        cpu_ns=_count(_object(cpu, "cpu_usage").get("total_usage")),
        system_ns=_count(cpu.get("system_cpu_usage")),
        cpus=max(1, _count(cpu.get("online_cpus"))),
        memory=used - inactive if inactive < used else used,
        memory_limit=limit,
        rx=sum(_count(network.get("rx_bytes")) for network in networks),
        tx=sum(_count(network.get("tx_bytes")) for network in networks),
    )


def _object(parent: dict[str, Any], key: str) -> dict[str, Any]:
    value = parent.get(key)
    return value if isinstance(value, dict) else {}


def _count(value: Any) -> int:
    """Return a counter, or 0 for anything that is not a non-negative 64-bit integer."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**64:
        return value
    return 0


async def _get(daemon: Daemon, path: str) -> bytes:
    """GET from the engine and return the body of its 200 answer; raise EngineError for others, or past ANSWER_LIMIT."""
    try:
        # The first client() of a process asks the engine for its API version: a blocking call.
        version = await run_blocking(lambda: daemon.client().api.api_version)
        reader, writer = await daemon.open_connection()
    except (*ENGINE_ERRORS, OSError) as e:
        raise EngineError(f"the engine does not answer: {e}") from e
    answer = bytearray()
    try:
        # HTTP/1.0: the engine sends the body as it is, then hangs up.
        writer.write(f"GET /v{version}{path} HTTP/1.0\r\nHost: docker\r\n\r\n".encode())
        while chunk := await reader.read(64 * 1024):
            answer += chunk
            if len(answer) > ANSWER_LIMIT:
                raise EngineError(f"the engine's answer is over {ANSWER_LIMIT} bytes")
    except OSError as e:
        raise EngineError(f"the engine hung up: {e}") from e
    finally:
        writer.close()
    head, _, body = bytes(answer).partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0]
    if b" 404 " in status:
        raise Gone(status.decode(errors="replace"))
    if b" 200 " not in status:
        raise EngineError(status.decode(errors="replace") or "the engine answered nothing")
    return body
