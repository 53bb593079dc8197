from allauth.socialaccount import urls as socialaccount_urls
from allauth.urls import build_provider_urlpatterns
from django.urls import include, path

from accounts import views

urlpatterns = [
    # allauth's own code sends visitors to these names.
    path("accounts/login/", views.login, name="account_login"),
    path("accounts/logout/", views.logout, name="account_logout"),
    path("accounts/oauth-done/", views.oauth_done, name="oauth-done"),
    path("accounts/3rdparty/", include(socialaccount_urls)),
    path("accounts/", include(build_provider_urlpatterns())),
    path("oauth/providers", views.oauth_providers, name="oauth-providers"),
    path("oauth/providers/<str:provider>/login", views.oauth_login, name="oauth-login"),
    path("users/me", views.me, name="users-me"),
]
