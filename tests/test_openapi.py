"""GET /api/openapi.json describes the JSON API."""

from django.test import Client


def test_it_publishes_an_openapi_document(client: Client) -> None:
    document = client.get("/api/openapi.json").json()
    assert document["openapi"].startswith("3.")
    assert "/sessions/{session_id}/instances" in document["paths"]

