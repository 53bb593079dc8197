"""Keep the login popup tied to the page that opened it (PWD's SDK, on another site)."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponseBase

# Where the popup goes: our login route, the provider, allauth's callback, the page that posts "done".
POPUP_PATHS = ("/oauth/providers/", "/accounts/")


def popup_keeps_its_opener(get_response: Callable[[HttpRequest], HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Answer the popup's pages with COOP unsafe-none.

    Django's default, same-origin, is enforced on each redirect too: the first one would cut the popup off from
    its opener, and the SDK would never hear "done".
    """

    def middleware(request: HttpRequest) -> HttpResponseBase:
        response = get_response(request)
        if request.path.startswith(POPUP_PATHS):
            response["Cross-Origin-Opener-Policy"] = "unsafe-none"
        return response

    return middleware
