"""Find the ports published inside each instance (containers and swarm services) and tell its viewers.

What an instance answers is the learner's to make up, `docker` included: every scan has a deadline and an output
cap, scans run side by side so a slow instance delays only itself, and one that was cut short is left alone a
while.
"""

from __future__ import annotations

import logging
import re
import time
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings

from sessions import engine, events
from sessions.models import Instance

log = logging.getLogger(__name__)

# `docker ps` shows "0.0.0.0:8080->80/tcp, :::8080->80/tcp, 0.0.0.0:9000-9001->9000-9001/tcp";
# `docker service ls` shows "*:8080->80/tcp".
_PUBLISHED = re.compile(r":(\d{1,5})(?:-(\d{1,5}))?->")
_MAX_RANGE = 100
# A worker node cannot list services; that is not an error worth showing.
_SCRIPT = "docker ps --format '{{.Ports}}'; docker service ls --format '{{.Ports}}' 2>/dev/null; true"
# Far more than a page of port mappings: anything longer is not `docker ps` telling the truth.
OUTPUT_LIMIT = 64 * 1024
# Seconds an instance whose scan was cut short goes unscanned, so it cannot hold a scanning thread every round.
SLOW_PAUSE = 60.0
_SCANS_AT_ONCE = 4
_POOL = ThreadPoolExecutor(max_workers=_SCANS_AT_ONCE, thread_name_prefix="ports")
# Instance name -> when its last scan was cut short (time.monotonic()).
_cut_short: dict[str, float] = {}


def published_ports(instance_name: str, timeout: float | None = None) -> list[int]:
    """Return the host ports published inside an instance, ascending; raise EngineError when it cannot tell."""
    _code, output = engine.exec_run(
        instance_name, ["sh", "-c", _SCRIPT], timeout=timeout or settings.PORTS_SCAN_TIMEOUT, limit=OUTPUT_LIMIT
    )
    ports: set[int] = set()
    for first, last in _PUBLISHED.findall(output.decode(errors="replace")):
        start = int(first)
        ports.update(range(start, min(int(last or first), start + _MAX_RANGE - 1) + 1))
    return sorted(ports)


def announce_ports() -> int:
    """Publish `instance docker ports` for every running instance; return how many were announced.

    Returns within PORTS_SCAN_TIMEOUT: a scan not started by then waits for the next round.
    """
    deadline = time.monotonic() + settings.PORTS_SCAN_TIMEOUT
    running = dict(Instance.objects.reachable().values_list("name", "session_id"))
    for name in set(_cut_short) - set(running):
        del _cut_short[name]
    due = [name for name in running if time.monotonic() - _cut_short.get(name, -SLOW_PAUSE) >= SLOW_PAUSE]
    scans = [(name, _POOL.submit(_scan, name, deadline)) for name in due]
    announced = 0
    for name, scan in scans:
        try:
            ports = scan.result()
        except engine.ExecCutShort as e:
            _cut_short[name] = time.monotonic()
            log.warning("the port scan of %s was cut short; next try in %.0fs: %s", name, SLOW_PAUSE, e)
            continue
        except engine.EngineError:
            # The instance may be going away right now; the next round sees the truth.
            log.info("could not list the ports of %s", name)
            continue
        if ports is not None:
            events.publish(running[name], "instance docker ports", {"instance": name, "ports": ports})
            announced += 1
    return announced


def _scan(name: str, deadline: float) -> list[int] | None:
    """Return an instance's ports, or None when too little of the round is left to start this scan."""
    remaining = deadline - time.monotonic()
    # A scan given only the round's last moments would be cut short (and set aside) through no fault of its own.
    if remaining < settings.PORTS_SCAN_TIMEOUT / 2:
        return None
    return published_ports(name, timeout=remaining)
