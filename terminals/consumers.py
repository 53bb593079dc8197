"""PWD's session WebSocket: terminals in and out, viewport size, and the session's events."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from engine.daemon import Daemon
from sessions import engines, events, lifecycle
from sessions.activity import Activity
from sessions.models import Instance, Session
from terminals import hub

log = logging.getLogger(__name__)

CLOSE_UNKNOWN_SESSION = 4404
CLOSE_SESSION_ENDED = 4410


@database_sync_to_async
def _session_state(session_id: str) -> tuple[str, str, Daemon] | None:
    """Return the session's state, why it ended, and the engine its instances run on; None when there is none."""
    session = Session.objects.select_related("engine").filter(pk=session_id).first()
    return None if session is None else (session.state, session.end_reason, session.daemon)


@database_sync_to_async
def _running_instances(session_id: str) -> list[str]:
    running = Instance.objects.filter(session_id=session_id, state=Instance.State.RUNNING)
    return list(running.order_by("created_at", "id").values_list("name", flat=True))


def _end_session_now(session_id: str) -> None:
    session = Session.objects.filter(pk=session_id).first()
    if session is not None:
        lifecycle.end_session(session, reason="closed")


# Ending a session removes containers: slow, so it runs outside the one thread the ORM helpers share.
_end_session = database_sync_to_async(_end_session_now, thread_sensitive=False)


class SessionConsumer(AsyncJsonWebsocketConsumer):
    """Bridge one viewer to the terminals of every instance in a session, and tell it what happens there.

    Channels runs one handler at a time, for the viewer's frames and the session's events alike, each source in
    the order it arrives, so: a viewer's input reaches the tty in the order typed; a resize is applied before
    any input sent after it is written; an event is forwarded before the consumer acts on it (an instance is
    announced before its terminal says anything, "session end" comes before the close); nothing is handled
    after the viewer's disconnect.
    """

    session_id: str
    channel_layer: Any
    channel_name: str

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.terminals: dict[str, hub.Viewer] = {}
        self.watching = False
        self.size: tuple[int, int] | None = None

    async def connect(self) -> None:
        self.session_id = self.scope["url_route"]["kwargs"]["session_id"]
        self.activity = Activity(self.session_id)
        # Viewers that acknowledge output frames ("instance terminal ack") get flow control; PWD's did not.
        query = parse_qs(self.scope.get("query_string", b"").decode())
        self.acknowledges = query.get("flow") == ["ack"]
        # A trainer watching a learner's terminal (?readonly=1): what it sends is ignored, acknowledgements aside.
        self.readonly = query.get("readonly") == ["1"]
        found = await _session_state(self.session_id)
        await self.accept()
        if found is None:
            await self.close(code=CLOSE_UNKNOWN_SESSION)
            return
        state, reason, self.daemon = found
        if state != Session.State.ACTIVE:
            await self._send_event("session end", [engines.DOWN_MESSAGE] if reason == engines.DOWN_REASON else [])
            await self.close(code=CLOSE_SESSION_ENDED)
            return
        # Join before listing, so an instance started in between is announced rather than missed.
        await self.channel_layer.group_add(events.group_name(self.session_id), self.channel_name)
        self.watching = True
        for name in await _running_instances(self.session_id):
            await self._attach(name)

    async def disconnect(self, code: int) -> None:
        await self._leave()
        await self.activity.settled()

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Handle a message as Channels does, but a frame without a database hop; leave if a handler fails.

        Channels closes stale database connections before every handler, a hop to the thread that every
        consumer's ORM helpers share, for each keystroke; frames need no connection here (the helpers above run
        where that is done). A handler that raises, or that Daphne cancels, ends the consumer without its
        disconnect(): leave anyway, or the hubs would keep serving a viewer that is gone.
        """
        try:
            if message["type"] == "websocket.receive":
                await self.websocket_receive(message)
            else:
                await super().dispatch(message)
        except StopConsumer:
            raise
        except BaseException:
            await asyncio.shield(self._leave())
            raise

    async def _leave(self) -> None:
        """Leave every terminal and stop following the session; what is already left is not left again."""
        terminals, self.terminals = list(self.terminals.values()), {}
        for terminal in terminals:
            await terminal.leave()
        if self.watching:
            self.watching = False
            await self.channel_layer.group_discard(events.group_name(self.session_id), self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any) -> None:
        """Decode a frame; one that is not JSON text is ignored, as PWD's server did, rather than end the socket."""
        try:
            content = json.loads(text_data or "")
        except (ValueError, RecursionError):
            log.debug("ignoring a malformed frame on session %s", self.session_id)
            return
        await self.receive_json(content)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        try:
            name, args = content["name"], list(content.get("args") or [])
        except (KeyError, TypeError):
            log.debug("ignoring a frame without a name on session %s", self.session_id)
            return
        if self.readonly and name != "instance terminal ack":
            return
        if name == "instance terminal in" and len(args) == 2:
            await self._terminal_in(str(args[0]), str(args[1]))
        elif name == "instance terminal ack" and len(args) == 2:
            terminal = self.terminals.get(str(args[0]))
            if terminal is not None and isinstance(args[1], int):
                await terminal.acknowledge(args[1])
        elif name == "instance viewport resize" and len(args) == 2:
            await self._resize(args[0], args[1])
        elif name == "session close":
            await _end_session(self.session_id)

    async def session_event(self, message: dict[str, Any]) -> None:
        """Forward a session event from the channel layer, and follow it: attach, detach, or hang up."""
        name, args = message["name"], message["args"]
        await self._send_event(name, args)
        if name == "instance new":
            await self._attach(args[0])
        elif name == "instance delete" and args[0] in self.terminals:
            await self.terminals.pop(args[0]).leave()
            await hub.forget(args[0])
        elif name == "session end":
            await self.close(code=CLOSE_SESSION_ENDED)

    async def _attach(self, instance: str) -> None:
        if instance not in self.terminals:
            self.terminals[instance] = await hub.join(
                self.daemon,
                instance,
                self._send_event,
                acknowledged=self.acknowledges,
                size=self.size,
                session=self.session_id,
            )

    async def _terminal_in(self, instance: str, data: str) -> None:
        terminal = self.terminals.get(instance)
        if terminal is None:
            return
        await terminal.write(data)
        self.activity.seen()

    async def _resize(self, cols: Any, rows: Any) -> None:
        if not (isinstance(cols, int) and isinstance(rows, int) and 0 < cols <= 1000 and 0 < rows <= 1000):
            return
        self.size = (cols, rows)
        for terminal in self.terminals.values():
            await terminal.resize(cols, rows)

    async def _send_event(self, name: str, args: list[Any]) -> None:
        await self.send_json({"name": name, "args": args})
