from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("accounts.urls")),
    path("", include("sessions.urls")),
    path("", include("router.urls")),
    path("", include("gateway.urls")),
    path("", include("workshops.urls")),
]
