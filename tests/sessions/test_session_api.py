import pytest
from django.test import Client

from engine import sandboxes
from engine.daemon import default
from sessions.models import Playground, Session
from tests.conftest import Api


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/sessions/nosuchsession"),
        ("delete", "/sessions/nosuchsession"),
        ("post", "/sessions/nosuchsession/close"),
        ("post", "/sessions/nosuchsession/instances"),
        ("delete", "/sessions/nosuchsession/instances/node1"),
    ],
)
def test_it_answers_404_for_unknown_sessions(client: Client, playground: Playground, method: str, path: str) -> None:
    response = getattr(client, method)(path)
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_it_shows_the_session_with_its_instances(live: Playground, api: Api) -> None:
    session_id = api.start()
    instance = api.add(session_id)
    body = api.get(session_id)
    assert body["id"] == session_id
    assert body["state"] == "active"
    assert list(body["instances"]) == [instance["name"]]
    assert body["instances"][instance["name"]]["hostname"] == "node1"


def test_it_deletes_a_session_and_everything_it_owned(live: Playground, api: Api, client: Client) -> None:
    session_id = api.start()
    api.add(session_id)
    api.add(session_id)
    response = client.delete(f"/sessions/{session_id}")
    assert response.status_code == 200
    assert response.json()["state"] == "ended"
    assert sandboxes.labelled_objects(default(), session_id) == {"containers": [], "volumes": [], "networks": []}


def test_it_closes_a_session_by_post(live: Playground, api: Api, client: Client) -> None:
    session_id = api.start()
    assert client.post(f"/sessions/{session_id}/close").status_code == 200
    assert Session.objects.get(pk=session_id).state == Session.State.ENDED
    assert sandboxes.labelled_objects(default(), session_id)["networks"] == []


def test_it_finishes_an_ending_that_failed_halfway(live: Playground, api: Api, client: Client) -> None:
    session_id = api.start()
    api.add(session_id)
    Session.objects.filter(pk=session_id).update(state=Session.State.ENDING)
    assert client.delete(f"/sessions/{session_id}").status_code == 200
    assert Session.objects.get(pk=session_id).state == Session.State.ENDED
    assert sandboxes.labelled_objects(default(), session_id)["containers"] == []


def test_it_refuses_new_instances_in_an_ended_session(live: Playground, api: Api, client: Client) -> None:
    session_id = api.start()
    client.delete(f"/sessions/{session_id}")
    assert api.add(session_id, status=410)["error"] == "session_ended"


def test_ending_twice_is_harmless(live: Playground, api: Api, client: Client) -> None:
    session_id = api.start()
    assert client.delete(f"/sessions/{session_id}").status_code == 200
    assert client.delete(f"/sessions/{session_id}").status_code == 200
