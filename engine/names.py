"""What a session's id becomes in the names the platform gives: networks, bridges, containers, hosts, users."""

from __future__ import annotations

BRIDGE_PREFIX = "pgs"


def network(session_id: str) -> str:
    """Return the name of the engine network private to the session."""
    return f"pg-{session_id}"


def bridge(session_id: str) -> str:
    """Return the host interface of a session's network: BRIDGE_PREFIX and 12 characters (a name holds 15)."""
    return f"{BRIDGE_PREFIX}{session_id[:12]}"
