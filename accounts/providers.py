"""The OAuth providers the operator configured (settings.SOCIALACCOUNT_PROVIDERS), by the name the SDK uses."""

from __future__ import annotations

from allauth.socialaccount.adapter import get_adapter
from allauth.socialaccount.providers.base import Provider
from django.http import Http404, HttpRequest


def configured(request: HttpRequest) -> list[Provider]:
    return list(get_adapter(request).list_providers(request))


def named(request: HttpRequest, name: str) -> Provider:
    """Return the configured provider called `name` (`github`, or an OpenID Connect provider's id), or raise 404."""
    for provider in configured(request):
        if provider.sub_id == name:
            return provider
    raise Http404(f"no login provider {name!r} is configured here")
