from django.urls import path

from router import views

urlpatterns = [
    path("sessions/<str:session_id>/instances/<str:name>/docker", views.docker_connection, name="docker-connection"),
    path("sessions/<str:session_id>/instances/<str:name>/docker.zip", views.docker_bundle, name="docker-bundle"),
]
