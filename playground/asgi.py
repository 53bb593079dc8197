"""ASGI entry point: Django for HTTP, Channels for the terminal WebSockets."""

import os
from typing import Any

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "playground.settings")
django_asgi_app = get_asgi_application()

# Daphne imports this module before it listens, so every request it reads is already bounded.
from django.conf import settings  # noqa: E402

from playground import bodylimit  # noqa: E402
from sessions import uploads  # noqa: E402

bodylimit.install(settings.MAX_REQUEST_BODY, uploads.ROUTE, settings.UPLOAD_MAX_BYTES)

# Consumers import models, so they come after Django is set up.
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from terminals.origin import OriginValidator  # noqa: E402
from terminals.routing import websocket_urlpatterns  # noqa: E402
from workshops.routing import websocket_urlpatterns as workshop_urlpatterns  # noqa: E402


async def http_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Send uploads to their streaming application, everything else to Django."""
    if scope["method"] == "POST" and uploads.ROUTE.fullmatch(scope["path"]):
        await uploads.application(scope, receive, send)
    else:
        await django_asgi_app(scope, receive, send)


application = ProtocolTypeRouter(
    {
        "http": http_app,
        # Terminals' last route refuses any other path, so the workshops' routes come first.
        "websocket": AllowedHostsOriginValidator(
            OriginValidator(URLRouter(workshop_urlpatterns + websocket_urlpatterns))
        ),
    }
)
