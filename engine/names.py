"""What a session's id becomes in the names the platform gives: networks, containers, host names, ssh users.

Some names hold only the id's first SHORT characters: a host interface's name is short, and PWD's clients
(docker-machine's host names, the legacy ssh user) know only that much of it.
"""

from __future__ import annotations

import ipaddress
import re
import secrets

SHORT = 8
SHORT_PATTERN = rf"[a-z0-9]{{{SHORT}}}"
BRIDGE_PREFIX = "pgs"
# PWD's name for an instance: ip<a-b-c-d>-<session id>, in direct host names and ssh user names.
PROXY_HOST_PATTERN = r"ip(?P<ip>\d{1,3}(?:-\d{1,3}){3})-(?P<session>[a-z0-9]+)"
_PROXY_HOST = re.compile(PROXY_HOST_PATTERN)


def short(session_id: str) -> str:
    """Return the first SHORT characters of the id: enough to tell sessions apart, too few to enter one."""
    return session_id[:SHORT]


def network(session_id: str) -> str:
    """Return the name of the engine network private to the session."""
    return f"pg-{session_id}"


def bridge(session_id: str) -> str:
    """Return the host interface of a session's network: BRIDGE_PREFIX and 12 characters (a name holds 15)."""
    return f"{BRIDGE_PREFIX}{session_id[:12]}"


def container(session_id: str, hostname: str) -> str:
    """Return a new, unique container name for an instance of the session."""
    return f"pg-{short(session_id)}-{hostname}-{secrets.token_hex(3)}"


def proxy_host(ip: str, session_id: str) -> str:
    """Return PWD's name of an instance, ip<a-b-c-d>-<session id>: its ssh user, the start of its host names."""
    return f"ip{ip.replace('.', '-')}-{session_id}"


def direct_host(proxy_host: str, port: int, domain: str) -> str:
    """Return the direct name of an instance's port, from its PWD proxy_host (ip<a-b-c-d>-<session id>)."""
    return f"{proxy_host}-{port}.direct.{domain}"


def parse_proxy_host(label: str) -> tuple[str, str] | None:
    """Return (ip, session id) from ip<a-b-c-d>-<session id>, or None if it is not one."""
    match = _PROXY_HOST.fullmatch(label)
    ip = match and undash_ip(match["ip"])
    return (ip, match["session"]) if match and ip else None


def undash_ip(dashed: str) -> str | None:
    """Return the IPv4 address written a-b-c-d, or None if it is not one."""
    try:
        return str(ipaddress.IPv4Address(dashed.replace("-", ".")))
    except ipaddress.AddressValueError:
        return None
