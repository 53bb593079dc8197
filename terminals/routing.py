from django.urls import URLPattern, path

from terminals.consumers import SessionConsumer

websocket_urlpatterns: list[URLPattern] = [
    path("sessions/<str:session_id>/ws/", SessionConsumer.as_asgi()),
]
