"""Tell everyone watching a session what happened, as PWD's WebSocket events ({"name", "args"}).

Only high-level events travel over the channel layer; terminal bytes never do.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer


def group_name(session_id: str) -> str:
    return f"session-{session_id}"


def event(name: str, *args: Any) -> dict[str, Any]:
    """Return the channel-layer message that terminals/ consumers forward to browsers as {"name", "args"}."""
    return {"type": "session.event", "name": name, "args": list(args)}


async def apublish(session_id: str, name: str, *args: Any) -> None:
    layer = get_channel_layer()
    if layer is not None:
        await layer.group_send(group_name(session_id), event(name, *args))


def publish(session_id: str, name: str, *args: Any) -> None:
    """Send a PWD event (e.g. "instance new", "session end") to every viewer of the session."""
    async_to_sync(apublish)(session_id, name, *args)
