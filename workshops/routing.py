from channels.auth import AuthMiddlewareStack
from django.urls import URLPattern, path

from workshops.consumers import DashboardConsumer

websocket_urlpatterns: list[URLPattern] = [
    # Only the dashboard needs to know who is logged in; terminal sockets skip that database read.
    path("workshops/<int:workshop_id>/ws/", AuthMiddlewareStack(DashboardConsumer.as_asgi())),
]
