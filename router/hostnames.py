"""Read the host names the router serves: PWD's direct names and docker-machine's names."""

from __future__ import annotations

import re
from dataclasses import dataclass

from engine.names import PROXY_HOST_PATTERN, SHORT_PATTERN, undash_ip

_DIRECT = re.compile(rf"^{PROXY_HOST_PATTERN}(?:-(?P<port>\d{{1,5}}))?\.direct\.(?P<domain>.+)$")
_MACHINE = re.compile(
    rf"^pwd(?P<alias>[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)-(?P<prefix>{SHORT_PATTERN})-(?P<port>\d{{1,5}})\.(?P<domain>.+)$"
)


@dataclass(frozen=True)
class DirectName:
    """ip<a-b-c-d>-<session id>[-<port>].direct.<domain>: an instance named by its address and session."""

    ip: str
    session_id: str
    port: int | None


@dataclass(frozen=True)
class MachineName:
    """pwd<alias>-<first 8 characters of the session id>-<port>.<domain>: docker-machine's name of an instance."""

    alias: str
    session_prefix: str
    port: int


Name = DirectName | MachineName


def parse(host: str, domain: str) -> Name | None:
    """Return what a host name (from SNI or a Host header, port allowed) designates, or None if not ours."""
    host = host.strip().lower().rstrip(".")
    if host.startswith("["):
        return None
    host = host.partition(":")[0].rstrip(".")
    domain = domain.lower().rstrip(".")
    if match := _DIRECT.match(host):
        return _direct(match) if match["domain"] == domain else None
    if (match := _MACHINE.match(host)) and match["domain"] == domain:
        port = _port(match["port"])
        return MachineName(match["alias"], match["prefix"], port) if port else None
    return None


def _direct(match: re.Match[str]) -> DirectName | None:
    ip = undash_ip(match["ip"])
    port = _port(match["port"]) if match["port"] else None
    if ip is None or (match["port"] and port is None):
        return None
    return DirectName(ip, match["session"], port)


def _port(text: str) -> int | None:
    port = int(text)
    return port if 0 < port < 65536 else None
