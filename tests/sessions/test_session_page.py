"""GET /p/<session id> is the session's page, for a session that exists."""

from django.test import Client

from sessions.models import Playground


def test_it_answers_404_for_a_session_that_does_not_exist(client: Client, playground: Playground) -> None:
    assert client.get("/p/nosuchsession").status_code == 404
