"""The trainer's dashboard, live: the room's seats pushed on every change, and again every few seconds."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from accounts.trainers import is_trainer
from workshops import dashboard
from workshops.models import Workshop

CLOSE_FORBIDDEN = 4403


@database_sync_to_async
def _workshop_for(user: Any, workshop_id: int) -> Workshop | None:
    """Return the workshop if this user is a trainer who may watch it (their own, or any for staff)."""
    if not is_trainer(user):
        return None
    found = Workshop.objects.filter(pk=workshop_id)
    return (found if user.is_staff else found.filter(trainer=user)).first()


@database_sync_to_async
def _snapshot(workshop: Workshop) -> dict[str, Any]:
    return dashboard.snapshot(workshop)


class DashboardConsumer(AsyncJsonWebsocketConsumer):
    """Send a workshop's trainer the dashboard's rows: on connect, on every change, and every refresh."""

    channel_layer: Any
    channel_name: str
    workshop: Workshop | None = None
    ticker: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        workshop_id = int(self.scope["url_route"]["kwargs"]["workshop_id"])
        await self.accept()
        self.workshop = await _workshop_for(self.scope.get("user"), workshop_id)
        if self.workshop is None:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        await self.channel_layer.group_add(dashboard.group_name(workshop_id), self.channel_name)
        await self._push()
        self.ticker = asyncio.create_task(self._tick())

    async def disconnect(self, code: int) -> None:
        if self.ticker is not None:
            self.ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.ticker
        if self.workshop is not None:
            await self.channel_layer.group_discard(dashboard.group_name(self.workshop.pk), self.channel_name)

    async def workshop_changed(self, message: dict[str, Any]) -> None:
        await self._push()

    async def _tick(self) -> None:
        # Time left moves without any event: refresh it (and catch sessions the sweep ended) every few seconds.
        while True:
            await asyncio.sleep(settings.WORKSHOP_DASHBOARD_REFRESH)
            await self._push()

    async def _push(self) -> None:
        if self.workshop is not None:
            await self.send_json(await _snapshot(self.workshop))
