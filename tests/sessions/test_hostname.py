"""POST /'s hostname is where the request arrived, port included: PWD's SDK sends everything after it there."""

from __future__ import annotations

from django.test import Client

from sessions.models import Playground

XHR = {"x-requested-with": "XMLHttpRequest"}


def test_it_answers_the_host_and_port_the_request_reached(live: Playground, client: Client) -> None:
    response = client.post("/", {"session-duration": "90m"}, headers={**XHR, "host": "play.example:8000"})
    assert response.json()["hostname"] == "play.example:8000"


def test_it_leaves_out_a_port_the_browser_left_out(live: Playground, client: Client) -> None:
    response = client.post("/", {"session-duration": "90m"}, headers={**XHR, "host": "play.example"})
    assert response.json()["hostname"] == "play.example"
