"""A session-duration that is not an ASCII duration is a 400 with a message, never a server error."""

import pytest
from django.test import Client

from sessions.lifecycle import BadInput
from sessions.models import Playground
from sessions.parsing import parse_duration

# Superscript two, Arabic-Indic three, fullwidth one-zero: str.isdigit() says yes to each.
UNICODE_DIGITS = ["²", "٣", "１０", "１０m", "²h", "1e3", "9" * 400]


@pytest.mark.parametrize("text", UNICODE_DIGITS)
def test_it_refuses_durations_that_are_not_ascii_digits(text: str) -> None:
    with pytest.raises(BadInput, match="session-duration"):
        parse_duration(text)


def test_it_answers_a_superscript_duration_with_400_json(client: Client, playground: Playground) -> None:
    response = client.post("/", {"session-duration": "²"}, headers={"x-requested-with": "XMLHttpRequest"})
    assert response.status_code == 400
    assert response.json()["error"] == "bad_request"
    assert "session-duration" in response.json()["message"]


def test_it_shows_the_form_again_with_the_reason(client: Client, playground: Playground) -> None:
    response = client.post("/", {"session-duration": "²"})
    assert response.status_code == 400
    assert b"session-duration" in response.content
