"""Refuse a request whose path or query string holds a NUL character, before any view looks it up.

PostgreSQL's text cannot hold NUL: psycopg raises DataError for a query comparing with such a string, so
/w/%00 or /sessions/%00 answered a 500 on PostgreSQL (the compose deployment's database) where SQLite found
nothing and answered 404.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponseBase, JsonResponse

MESSAGE = "a path or query string may not contain a NUL character (%00)"


def refuse_nul(get_response: Callable[[HttpRequest], HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Answer 400 to a request with NUL in its path or query string."""

    def middleware(request: HttpRequest) -> HttpResponseBase:
        query = request.META.get("QUERY_STRING", "")
        if "\x00" in request.path or "%00" in query or "\x00" in query:
            return JsonResponse({"error": "bad_request", "message": MESSAGE}, status=400)
        return get_response(request)

    return middleware
