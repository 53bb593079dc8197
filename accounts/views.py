"""Logging in and out: the login page, and OAuth through the popup that PWD's SDK opens on a 403 from POST /."""

from __future__ import annotations

import requests
from django.conf import settings
from django.contrib.auth import views as auth_views
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET

from accounts import providers
from accounts.trainers import is_trainer


def login(request: HttpRequest) -> HttpResponseBase:
    """Log in with a username and password, or through a configured OAuth provider."""
    view = auth_views.LoginView.as_view(
        template_name="accounts/login.html",
        redirect_authenticated_user=True,
        extra_context={"providers": providers.configured(request)},
    )
    return view(request)


logout = auth_views.LogoutView.as_view()


@require_GET
def oauth_login(request: HttpRequest, provider: str) -> HttpResponse:
    """Start the provider's login; it ends on `next`, by default the page that tells the SDK's popup "done"."""
    try:
        found = providers.named(request, provider)
    except Http404 as e:
        return render(request, "accounts/oauth_error.html", {"message": str(e)}, status=404)
    done = reverse("oauth-done")
    next_url = request.GET.get("next", done)
    if not url_has_allowed_host_and_scheme(next_url, {request.get_host()}, request.is_secure()):
        next_url = done
    try:
        # A GET starts the login, as PWD did: the SDK's popup can do nothing else.
        return found.redirect(request, process="login", next_url=next_url)
    except requests.RequestException as e:  # an OpenID Connect provider's discovery document
        message = f"the login provider {provider!r} did not answer: {e}"
        return render(request, "accounts/oauth_error.html", {"message": message}, status=502)


@require_GET
def oauth_done(request: HttpRequest) -> HttpResponse:
    """Tell the window that opened this popup (PWD's SDK) that the login is done, and close it."""
    origins = [request.build_absolute_uri("/").rstrip("/"), *settings.CORS_ALLOWED_ORIGINS]
    return render(request, "accounts/oauth_done.html", {"origins": origins})


@require_GET
def oauth_providers(request: HttpRequest) -> HttpResponse:
    return JsonResponse([provider.sub_id for provider in providers.configured(request)], safe=False)


@require_GET
def me(request: HttpRequest) -> HttpResponse:
    user = request.user
    if not user.is_authenticated:
        return JsonResponse({"error": "not_logged_in", "message": "log in first"}, status=401)
    return JsonResponse({"id": user.pk, "name": user.get_username(), "is_trainer": is_trainer(user)})
