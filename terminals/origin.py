"""Refuse WebSockets opened by pages of other sites (cross-site WebSocket hijacking)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from channels.routing import URLRouter
from django.conf import settings

# WebSocket close codes 4000-4999 are the application's; these mirror HTTP statuses so they read at a glance.
CLOSE_FORBIDDEN_ORIGIN = 4403


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def origin_allowed(scope: dict[str, Any]) -> bool:
    """Tell whether the handshake's Origin is the site itself or one of CORS_ALLOWED_ORIGINS."""
    origin = _header(scope, b"origin")
    if origin is None:
        # Browsers always send Origin; a client without one (a script, PWD's SDK on a server) is not a page
        # another site could have turned against its visitor.
        return True
    if origin.rstrip("/") in [o.rstrip("/") for o in settings.CORS_ALLOWED_ORIGINS]:
        return True
    host = _header(scope, b"host")
    return host is not None and urlsplit(origin).netloc.lower() == host.lower()


class OriginValidator:
    """Close a WebSocket from a foreign Origin with code 4403 before the application sees it."""

    def __init__(self, app: URLRouter) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] == "websocket" and not origin_allowed(scope):
            await receive()  # websocket.connect
            # Accept first: a refused handshake reaches the browser as a bare 1006, with no reason to show.
            await send({"type": "websocket.accept"})
            await send({"type": "websocket.close", "code": CLOSE_FORBIDDEN_ORIGIN})
            return None
        return await self.app(scope, receive, send)
