"""ASGI entry point: Django for HTTP, Channels for the terminal WebSockets."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "playground.settings")
django_asgi_app = get_asgi_application()

# Daphne imports this module before it listens, so every request it reads is already bounded.
from django.conf import settings  # noqa: E402

from playground import bodylimit  # noqa: E402

bodylimit.install(settings.MAX_REQUEST_BODY)

# Consumers import models, so they come after Django is set up.
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from terminals.origin import OriginValidator  # noqa: E402
from terminals.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(OriginValidator(URLRouter(websocket_urlpatterns))),
    }
)
