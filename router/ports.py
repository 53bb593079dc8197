"""Find the ports published inside each instance (containers and swarm services) and tell its viewers."""

from __future__ import annotations

import logging
import re

from sessions import engine, events
from sessions.models import Instance

log = logging.getLogger(__name__)

# `docker ps` shows "0.0.0.0:8080->80/tcp, :::8080->80/tcp, 0.0.0.0:9000-9001->9000-9001/tcp";
# `docker service ls` shows "*:8080->80/tcp".
_PUBLISHED = re.compile(r":(\d{1,5})(?:-(\d{1,5}))?->")
_MAX_RANGE = 100
# A worker node cannot list services; that is not an error worth showing.
_SCRIPT = "docker ps --format '{{.Ports}}'; docker service ls --format '{{.Ports}}' 2>/dev/null; true"


def published_ports(instance_name: str) -> list[int]:
    """Return the host ports published inside an instance, ascending."""
    _code, output = engine.exec_run(instance_name, ["sh", "-c", _SCRIPT], timeout=10)
    ports: set[int] = set()
    for first, last in _PUBLISHED.findall(output.decode(errors="replace")):
        start = int(first)
        ports.update(range(start, min(int(last or first), start + _MAX_RANGE - 1) + 1))
    return sorted(ports)


def announce_ports() -> int:
    """Publish `instance docker ports` for every running instance; return how many were announced."""
    running = Instance.objects.reachable()
    announced = 0
    for name, session_id in running.values_list("name", "session_id"):
        try:
            ports = published_ports(name)
        except engine.EngineError:
            # The instance may be going away right now; the next round sees the truth.
            log.info("could not list the ports of %s", name)
            continue
        events.publish(session_id, "instance docker ports", {"instance": name, "ports": ports})
        announced += 1
    return announced
