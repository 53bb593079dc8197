from django.urls import path

from workshops import views

urlpatterns = [
    path("workshops/", views.workshop_list, name="workshop-list"),
    path("workshops/<int:workshop_id>/", views.workshop_page, name="workshop-page"),
    path("workshops/<int:workshop_id>/attendance.csv", views.attendance, name="workshop-attendance"),
    path("workshops/<int:workshop_id>/<str:action>", views.workshop_action, name="workshop-action"),
    path("w/", views.join_code, name="workshop-code"),
    path("w/<str:code>", views.join, name="workshop-join"),
    path("w/lesson/<str:session_id>/steps/<str:step>/check", views.step_check, name="lesson-check"),
]
