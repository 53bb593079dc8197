from django.urls import path

from gateway import api

urlpatterns = [
    path("sessions/<str:session_id>/ssh-keys", api.ssh_keys, name="ssh-keys"),
    path("sessions/<str:session_id>/ssh-keys/<int:key_id>", api.ssh_key_delete, name="ssh-key-delete"),
]
