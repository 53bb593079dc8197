from channels.generic.websocket import AsyncWebsocketConsumer
from django.urls import URLPattern, path, re_path

from terminals.consumers import SessionConsumer


class NoSuchSocket(AsyncWebsocketConsumer):
    """Refuse the handshake of a WebSocket whose path names nothing (Daphne answers 403)."""

    channel_layer_alias = None  # nothing is ever sent to it: no Redis channel to make and tear down

    async def connect(self) -> None:
        await self.close()


websocket_urlpatterns: list[URLPattern] = [
    path("sessions/<str:session_id>/ws/", SessionConsumer.as_asgi()),
    # Without a last route, URLRouter raises on an unknown path ("..%2f" included): a 500 and a traceback.
    re_path(r"", NoSuchSocket.as_asgi()),
]
