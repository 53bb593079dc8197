"""The trainer's dashboard: extend and end a seat or all, attendance, deleting the room, and who may watch it."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from engine import sandboxes
from engine.daemon import default
from playground.asgi import application
from sessions import recordings
from sessions.models import Playground, Session
from tests.conftest import NOTHING
from tests.workshops.conftest import workshop_of
from workshops.models import Seat, Workshop


def seated(workshop: Workshop, *names: str) -> list[Seat]:
    """Join a learner per name, each from a browser of their own; return their seats."""
    for name in names:
        assert Client().post(f"/w/{workshop.code}", {"name": name}).status_code == 302
    return list(workshop.seat_set.select_related("session"))


def expiring_soon(seats: list[Seat]) -> None:
    Session.objects.filter(seats__in=seats).update(expires_at=timezone.now() + timedelta(minutes=5))


def expires_at(seat: Seat) -> Any:
    return Session.objects.get(seats=seat).expires_at


@pytest.fixture
def extendable(live: Playground) -> Playground:
    live.max_session_duration = timedelta(hours=8)
    live.save()
    return live


def test_it_extends_one_seat(client: Client, bob: User, extendable: Playground) -> None:
    workshop = workshop_of(bob, extendable)
    ada, grace = seated(workshop, "Ada", "Grace")
    expiring_soon([ada, grace])
    client.force_login(bob)
    response = client.post(f"/workshops/{workshop.pk}/extend", {"seat": ada.pk})
    assert response.status_code == 302
    assert expires_at(ada) > timezone.now() + timedelta(hours=3)
    assert expires_at(grace) < timezone.now() + timedelta(minutes=6)


def test_it_extends_every_seat(client: Client, bob: User, extendable: Playground) -> None:
    workshop = workshop_of(bob, extendable)
    seats = seated(workshop, "Ada", "Grace")
    expiring_soon(seats)
    client.force_login(bob)
    assert client.post(f"/workshops/{workshop.pk}/extend").status_code == 302
    assert all(expires_at(seat) > timezone.now() + timedelta(hours=3) for seat in seats)


def test_it_says_why_a_seat_cannot_be_extended(client: Client, bob: User, live: Playground) -> None:
    workshop = workshop_of(bob, live)
    (ada,) = seated(workshop, "Ada")
    client.force_login(bob)
    response = client.post(f"/workshops/{workshop.pk}/extend", {"seat": ada.pk})
    assert response.status_code == 409 and "does not allow extending" in response.content.decode()


def test_it_ends_one_seat_then_all(client: Client, bob: User, live: Playground) -> None:
    workshop = workshop_of(bob, live, instances=1)
    ada, grace = seated(workshop, "Ada", "Grace")
    assert ada.session and grace.session
    assert sandboxes.labelled_objects(default(), grace.session.id)["containers"]
    client.force_login(bob)

    assert client.post(f"/workshops/{workshop.pk}/end", {"seat": ada.pk}).status_code == 302
    assert sandboxes.labelled_objects(default(), ada.session.id) == NOTHING
    assert Session.objects.get(pk=ada.session.id).state == Session.State.ENDED
    left = sandboxes.labelled_objects(default(), grace.session.id)
    assert len(left["containers"]) == 1 and len(left["networks"]) == 1
    assert Session.objects.get(pk=grace.session.id).is_live

    assert client.post(f"/workshops/{workshop.pk}/end").status_code == 302
    assert sandboxes.labelled_objects(default(), grace.session.id) == NOTHING
    assert workshop.seat_set.count() == 2  # the seats stay: attendance and replays


@pytest.mark.django_db
def test_it_exports_attendance_as_csv_a_spreadsheet_reads_as_text(
    client: Client, bob: User, playground: Playground
) -> None:
    workshop = workshop_of(bob, playground)
    names = ["=cmd|' /C calc'!A0", "Doe, Jane", '"quoted"', "+1", "-1", "@SUM(A1)", "\tTab", "Ada"]
    for name in names:
        Seat.objects.create(workshop=workshop, name=name)
    client.force_login(bob)
    response = client.get(f"/workshops/{workshop.pk}/attendance.csv")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="attendance-{workshop.code}.csv"'
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["name", "joined_at", "last_activity", "session", "state"]
    assert [row[0] for row in rows[1:]] == [
        "'=cmd|' /C calc'!A0",
        "Doe, Jane",
        '"quoted"',
        "'+1",
        "'-1",
        "'@SUM(A1)",
        "'\tTab",
        "Ada",
    ]
    assert all(len(row) == 5 for row in rows)


@pytest.mark.django_db
def test_it_refuses_attendance_to_anyone_else(client: Client, bob: User, charlie: User, playground: Playground) -> None:
    workshop = workshop_of(bob, playground)
    client.force_login(charlie)
    assert client.get(f"/workshops/{workshop.pk}/attendance.csv").status_code == 403


def test_deleting_a_workshop_ends_its_sessions_and_removes_their_recordings(
    client: Client, bob: User, live: Playground, settings: Any, tmp_path: Path
) -> None:
    settings.RECORDINGS_DIR = tmp_path / "recordings"
    workshop = workshop_of(bob, live)
    ada, grace = seated(workshop, "Ada", "Grace")
    assert ada.session and grace.session
    client.force_login(bob)
    assert client.post(f"/workshops/{workshop.pk}/end", {"seat": ada.pk}).status_code == 302
    for seat in (ada, grace):
        assert seat.session
        recordings.folder(seat.session.id).mkdir(parents=True, exist_ok=True)
        recordings.path(seat.session.id, "abc").write_text("{}\n")

    response = client.post(f"/workshops/{workshop.pk}/delete")
    assert response.status_code == 302 and response["Location"] == "/workshops/"
    assert not Workshop.objects.filter(pk=workshop.pk).exists() and not Seat.objects.exists()
    for seat in (ada, grace):
        assert seat.session
        assert Session.objects.get(pk=seat.session.id).state == Session.State.ENDED
        assert sandboxes.labelled_objects(default(), seat.session.id) == NOTHING
        assert recordings.find(seat.session.id, "abc") is None


def test_it_refuses_to_delete_another_trainers_workshop(client: Client, bob: User, playground: Playground) -> None:
    dave = User.objects.create_user("dave")
    dave.groups.add(*bob.groups.all())
    theirs = workshop_of(dave, playground)
    client.force_login(bob)
    assert client.post(f"/workshops/{theirs.pk}/delete").status_code == 404
    assert Workshop.objects.filter(pk=theirs.pk).exists()


def test_it_refuses_an_unknown_action(client: Client, bob: User, playground: Playground) -> None:
    client.force_login(bob)
    assert client.post(f"/workshops/{workshop_of(bob, playground).pk}/explode").status_code == 404


async def watch(workshop_id: int, cookie: str = "") -> dict[str, Any]:
    """Open the dashboard's WebSocket with a login cookie (none: a visitor); return its first message."""
    headers = [(b"host", b"testserver"), (b"origin", b"http://testserver")]
    if cookie:
        headers.append((b"cookie", cookie.encode()))
    communicator = WebsocketCommunicator(application, f"/workshops/{workshop_id}/ws/", headers=headers)
    connected, _ = await communicator.connect(timeout=10)
    assert connected
    message = await communicator.receive_output(10)
    await communicator.disconnect()
    return dict(message)


def login_cookie(user: User) -> str:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


@pytest.fixture
def rooms(transactional_db: None, bob: User, playground: Playground) -> dict[str, Any]:
    """Bob's workshop and dave's (another trainer), and the login cookies of bob and charlie (a learner)."""
    dave = User.objects.create_user("dave")
    dave.groups.add(*bob.groups.all())
    charlie = User.objects.create_user("charlie")
    return {
        "mine": workshop_of(bob, playground).pk,
        "theirs": workshop_of(dave, playground).pk,
        "bob": login_cookie(bob),
        "charlie": login_cookie(charlie),
    }


REFUSED = {"type": "websocket.close", "code": 4403}


async def test_the_dashboard_socket_serves_its_trainer(rooms: dict[str, Any]) -> None:
    message = await watch(rooms["mine"], rooms["bob"])
    assert message["type"] == "websocket.send" and '"seats": []' in message["text"]


async def test_the_dashboard_socket_refuses_another_trainers_workshop(rooms: dict[str, Any]) -> None:
    assert await watch(rooms["theirs"], rooms["bob"]) == REFUSED


async def test_the_dashboard_socket_refuses_a_learner_account(rooms: dict[str, Any]) -> None:
    assert await watch(rooms["mine"], rooms["charlie"]) == REFUSED


async def test_the_dashboard_socket_refuses_a_visitor(rooms: dict[str, Any]) -> None:
    assert await watch(rooms["mine"]) == REFUSED


async def test_the_dashboard_socket_refuses_an_unknown_workshop(rooms: dict[str, Any]) -> None:
    assert await watch(999_999, rooms["bob"]) == REFUSED


def test_deleting_a_trainers_account_tears_their_workshops_down(
    bob: User, live: Playground, settings: Any, tmp_path: Path
) -> None:
    settings.RECORDINGS_DIR = tmp_path / "recordings"
    workshop = workshop_of(bob, live, instances=1)
    (ada,) = seated(workshop, "Ada")
    assert ada.session and sandboxes.labelled_objects(default(), ada.session.id) != NOTHING
    recordings.folder(ada.session.id).mkdir(parents=True, exist_ok=True)
    recordings.path(ada.session.id, "abc").write_text("{}\n")

    bob.delete()

    assert not Workshop.objects.filter(pk=workshop.pk).exists()
    assert Session.objects.get(pk=ada.session.id).state == Session.State.ENDED
    assert sandboxes.labelled_objects(default(), ada.session.id) == NOTHING
    assert recordings.find(ada.session.id, "abc") is None
