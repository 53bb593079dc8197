from django.urls import path

from sessions import api, monitoring, uploads, views

urlpatterns = [
    path("", views.home, name="home"),
    path("p/<str:session_id>", views.session_page, name="session-page"),
    path("p/<str:session_id>/replay/<str:name>", views.replay_page, name="replay-page"),
    path("sessions/<str:session_id>", api.session_detail, name="session-detail"),
    path("sessions/<str:session_id>/close", api.session_close, name="session-close"),
    path("sessions/<str:session_id>/extend", api.session_extend, name="session-extend"),
    path("sessions/<str:session_id>/stack", api.stack_deploy, name="stack-deploy"),
    path("sessions/<str:session_id>/instances", api.instance_create, name="instance-create"),
    path("sessions/<str:session_id>/instances/<str:name>", api.instance_delete, name="instance-delete"),
    path("sessions/<str:session_id>/instances/<str:name>/uploads", uploads.not_streamed, name="instance-uploads"),
    path("sessions/<str:session_id>/instances/<str:name>/fstree", api.instance_fstree, name="instance-fstree"),
    path("sessions/<str:session_id>/instances/<str:name>/file", api.instance_file, name="instance-file"),
    path("sessions/<str:session_id>/instances/<str:name>/editor", views.editor_page, name="instance-editor"),
    path("sessions/<str:session_id>/setup", api.session_setup, name="session-setup"),
    path("sessions/<str:session_id>/instances/<str:name>/exec", api.instance_exec, name="instance-exec"),
    path("sessions/<str:session_id>/instances/<str:name>/recording", api.instance_recording, name="instance-recording"),
    path("instances/images", api.images, name="images"),
    path("my/playground", api.my_playground, name="my-playground"),
    path("ping", api.ping, name="ping"),
    path("metrics", monitoring.metrics_view, name="metrics"),
    path("api/openapi.json", api.openapi, name="openapi"),
]
