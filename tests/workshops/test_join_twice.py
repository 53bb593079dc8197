"""One browser sending its join twice at once (a double click, a reload) takes one seat."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db import connections
from django.test import Client
from django.utils import timezone

from sessions.models import Playground, Session
from tests.workshops.conftest import workshop_of
from workshops.models import Seat


def browser_with_the_form(code: str) -> Client:
    browser = Client()
    assert browser.get(f"/w/{code}").status_code == 200  # hands out the seat's token with the form
    return browser


def test_it_seats_a_browser_joining_twice_at_once_once(live: Playground, bob: User) -> None:
    workshop = workshop_of(bob, live, seats=3)
    browser = browser_with_the_form(workshop.code)
    twin = Client()
    twin.cookies = browser.cookies  # the same browser: its second tab, or a second click

    def post(client: Client) -> Any:
        try:
            return client.post(f"/w/{workshop.code}", {"name": "Ada"})
        finally:
            connections.close_all()

    with ThreadPoolExecutor(2) as pool:
        responses = list(pool.map(post, [browser, twin]))
    assert Seat.objects.filter(workshop=workshop).count() == 1
    assert Session.objects.live().filter(seats__workshop=workshop).count() == 1
    # The first join sends the browser to its session; the second there too, or to "being set up" meanwhile.
    assert sorted(r.status_code for r in responses) in ([202, 302], [302, 302])
    seat = Seat.objects.select_related("session").get()
    assert seat.session and browser.get(f"/w/{workshop.code}")["Location"] == f"/p/{seat.session.id}"


def test_it_waits_on_a_seat_still_being_set_up(live: Playground, bob: User) -> None:
    workshop = workshop_of(bob, live)
    browser = browser_with_the_form(workshop.code)
    Seat.objects.create(workshop=workshop, name="Ada", token=browser.cookies[f"seat-{workshop.code}"].value)
    response = browser.post(f"/w/{workshop.code}", {"name": "Ada again"})
    assert response.status_code == 202 and "being set up" in response.content.decode()
    assert Seat.objects.count() == 1


def test_it_gives_back_a_seat_whose_join_died(live: Playground, bob: User, settings: Any) -> None:
    workshop = workshop_of(bob, live, seats=1)
    browser = browser_with_the_form(workshop.code)
    token = browser.cookies[f"seat-{workshop.code}"].value
    long_ago = timezone.now() - timedelta(seconds=settings.PROVISIONING_TIMEOUT + 1)
    Seat.objects.create(workshop=workshop, name="Ada", token=token, joined_at=long_ago)  # its process was killed
    response = browser.post(f"/w/{workshop.code}", {"name": "Ada again"})
    seat = Seat.objects.select_related("session").get()
    assert response.status_code == 302 and seat.session and response["Location"] == f"/p/{seat.session.id}"
    assert seat.name == "Ada again"


def test_it_replaces_a_hand_made_token(client: Client, bob: User, playground: Playground) -> None:
    workshop = workshop_of(bob, playground)
    client.cookies[f"seat-{workshop.code}"] = "x" * 5000
    response = client.get(f"/w/{workshop.code}")
    assert response.status_code == 200
    assert len(response.cookies[f"seat-{workshop.code}"].value) == 43


def test_it_never_hands_out_another_workshops_seat(live: Playground, bob: User) -> None:
    mine, theirs = workshop_of(bob, live), workshop_of(bob, live)
    other = Seat.objects.create(workshop=theirs, name="Grace")
    browser = Client()
    browser.cookies[f"seat-{mine.code}"] = other.token
    response = browser.post(f"/w/{mine.code}", {"name": "Mallory"})
    assert response.status_code == 302
    taken = Seat.objects.get(workshop=mine)
    assert taken.token != other.token and browser.cookies[f"seat-{mine.code}"].value == taken.token


def test_a_room_of_plain_nodes_needs_no_setup_slot(live: Playground, bob: User, settings: Any) -> None:
    """Setups run a few at once (SETUPS_AT_ONCE, past it 429): a class joining at once must not queue for them."""
    settings.SETUPS_AT_ONCE = 0
    workshop = workshop_of(bob, live, instances=1)
    response = Client().post(f"/w/{workshop.code}", {"name": "Ada"})
    assert response.status_code == 302, response.content
    seat = Seat.objects.select_related("session").get()
    assert seat.session and seat.session.live_instances().count() == 1
