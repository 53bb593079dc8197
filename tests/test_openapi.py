"""GET /api/openapi.json describes every route of the JSON API, and only those."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

# Served by the site but no part of the API: the admin, the HTML pages of the session, its editor, workshops and logging
# in (allauth's callbacks among them), Prometheus' metrics, and the document itself.
NOT_THE_API = (
    "/admin/",
    "/p/{session_id}",
    "/sessions/{session_id}/instances/{name}/editor",
    "/accounts/",
    "/w/",
    "/workshops/",
    "/metrics",
    "/api/openapi.json",
)


def _routes(patterns: Sequence[URLPattern | URLResolver], prefix: str = "/") -> Iterator[str]:
    """Yield every route of the URLconf as OpenAPI writes paths: /sessions/{session_id}."""
    for pattern in patterns:
        route = prefix + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", str(pattern.pattern))
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, route)
        else:
            yield route


def test_it_publishes_an_openapi_document(client: Client) -> None:
    document = client.get("/api/openapi.json").json()
    assert document["openapi"].startswith("3.")
    assert "/sessions/{session_id}/instances" in document["paths"]


def test_it_describes_every_route_of_the_api_and_no_other(client: Client) -> None:
    documented = set(client.get("/api/openapi.json").json()["paths"])
    served = {route for route in _routes(get_resolver().url_patterns) if not route.startswith(NOT_THE_API)}
    assert served - documented == set(), "served but not in sessions/openapi.py"
    assert documented - served == set(), "in sessions/openapi.py but not served"
