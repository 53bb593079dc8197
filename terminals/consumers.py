"""PWD's session WebSocket: terminals in and out, viewport size, and the session's events."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer

from sessions import events, lifecycle
from sessions.models import ACTIVITY_RESOLUTION, Instance, Session
from terminals import hub

log = logging.getLogger(__name__)

CLOSE_UNKNOWN_SESSION = 4404
CLOSE_SESSION_ENDED = 4410


@database_sync_to_async
def _session_state(session_id: str) -> str | None:
    return Session.objects.filter(pk=session_id).values_list("state", flat=True).first()


@database_sync_to_async
def _running_instances(session_id: str) -> list[str]:
    running = Instance.objects.filter(session_id=session_id, state=Instance.State.RUNNING)
    return list(running.order_by("created_at", "id").values_list("name", flat=True))


@database_sync_to_async
def _touch(session_id: str) -> None:
    Session.objects.filter(pk=session_id).touch()


def _end_session_now(session_id: str) -> None:
    session = Session.objects.filter(pk=session_id).first()
    if session is not None:
        lifecycle.end_session(session, reason="closed")


# Ending a session removes containers: slow, so it runs outside the one thread the ORM helpers share.
_end_session = database_sync_to_async(_end_session_now, thread_sensitive=False)


class SessionConsumer(AsyncWebsocketConsumer):
    """Bridge one viewer to the terminals of every instance in a session, and tell it what happens there."""

    session_id: str
    channel_layer: Any
    channel_name: str
    terminals: dict[str, hub.Viewer]

    async def connect(self) -> None:
        self.session_id = self.scope["url_route"]["kwargs"]["session_id"]
        self.size: tuple[int, int] | None = None
        self.touched_at = 0.0
        # Viewers that acknowledge output frames ("instance terminal ack") get flow control; PWD's did not.
        self.acknowledges = parse_qs(self.scope.get("query_string", b"").decode()).get("flow") == ["ack"]
        state = await _session_state(self.session_id)
        await self.accept()
        if state is None:
            await self.close(code=CLOSE_UNKNOWN_SESSION)
            return
        if state != Session.State.ACTIVE:
            await self._send_event("session end", [])
            await self.close(code=CLOSE_SESSION_ENDED)
            return
        # Join before listing, so an instance started in between is announced rather than missed.
        await self.channel_layer.group_add(events.group_name(self.session_id), self.channel_name)
        self.watching = True
        for name in await _running_instances(self.session_id):
            await self._attach(name)

    async def __call__(self, scope: Any, receive: Callable[[], Awaitable[Any]], send: Any) -> None:
        """Serve the socket as Channels does, but read each source in one loop of its own.

        Channels' own loop starts a task per message and waits on both sources again each time: three turns of
        the event loop between a keystroke's frame and its handler, where this takes one. A lock keeps the
        handlers one at a time, as Channels does.
        """
        self.scope = scope
        self.base_send = send
        self.terminals = {}
        self.watching = False
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        sources = [receive]
        if self.channel_layer is not None:
            self.channel_name = await self.channel_layer.new_channel()
            sources.append(lambda: self.channel_layer.receive(self.channel_name))
        self._dispatching = asyncio.Lock()
        self._stopped = False
        readers = [asyncio.create_task(self._read(source)) for source in sources]
        try:
            done, _ = await asyncio.wait(readers, return_when=asyncio.FIRST_COMPLETED)
            async with self._dispatching:  # a handler under way (one reader's source failed) finishes first
                self._stopped = True
            for reader in done:
                reader.result()  # a handler's error ends the consumer, as in Channels
        finally:
            for reader in readers:
                reader.cancel()
            await asyncio.gather(*readers, return_exceptions=True)
            # After an error, or when Daphne cancels the application, disconnect() has not run: leave anyway,
            # or the hubs would keep serving a viewer that is gone.
            await asyncio.shield(self._leave())

    async def _read(self, source: Callable[[], Awaitable[Any]]) -> None:
        while True:
            message = await source()
            async with self._dispatching:
                # Nothing is handled once the socket is done with: a session event that was waiting for the lock
                # while the viewer disconnected would otherwise attach a terminal nobody will leave.
                if self._stopped:
                    return
                self._stopped = True  # until this handler returns: one that raises ends the consumer
                try:
                    await self.dispatch(message)
                except StopConsumer:
                    return
                self._stopped = False

    async def disconnect(self, code: int) -> None:
        await self._leave()

    async def _leave(self) -> None:
        """Stop following the session and leave every terminal; what is already left is not left again."""
        if self.watching:
            self.watching = False
            await self.channel_layer.group_discard(events.group_name(self.session_id), self.channel_name)
        terminals, self.terminals = list(self.terminals.values()), {}
        for terminal in terminals:
            await terminal.leave()

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Handle a frame from the viewer at once; anything else the way Channels does."""
        if message["type"] == "websocket.receive":
            # Channels first closes stale database connections, a hop to its database thread that cost 0.15 ms
            # per keystroke; frames need no connection here (the ORM helpers above run where that is done).
            await self.websocket_receive(message)
        else:
            await super().dispatch(message)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        try:
            message = json.loads(text_data or "")
            name, args = message["name"], list(message.get("args") or [])
        except (ValueError, KeyError, TypeError, RecursionError):
            log.debug("ignoring a malformed frame on session %s", self.session_id)
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
                instance, self._send_event, acknowledged=self.acknowledges, size=self.size
            )

    async def _terminal_in(self, instance: str, data: str) -> None:
        terminal = self.terminals.get(instance)
        if terminal is None:
            return
        await terminal.write(data)
        now = time.monotonic()
        if now - self.touched_at >= ACTIVITY_RESOLUTION.total_seconds():
            self.touched_at = now
            await _touch(self.session_id)

    async def _resize(self, cols: Any, rows: Any) -> None:
        if not (isinstance(cols, int) and isinstance(rows, int) and 0 < cols <= 1000 and 0 < rows <= 1000):
            return
        self.size = (cols, rows)
        for terminal in self.terminals.values():
            await terminal.resize(cols, rows)

    async def _send_event(self, name: str, args: list[Any]) -> None:
        await self.send(text_data=json.dumps({"name": name, "args": args}))
