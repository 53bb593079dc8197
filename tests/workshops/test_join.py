"""Learners join with the code: a seat and a session each, the same one again from the same browser."""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from sessions.models import Playground, Session
from tests.workshops.conftest import workshop_of
from workshops.models import Seat


@pytest.fixture
def strict_limits(settings: object) -> None:
    """The per-address limits a classroom NAT would hit: joining must not count against them."""
    settings.SESSION_STARTS_PER_MINUTE = 10  # type: ignore[attr-defined]
    settings.SESSIONS_PER_CLIENT = 2  # type: ignore[attr-defined]
    settings.WORKSHOP_SEATS_PER_ADDRESS_LIMIT = True  # type: ignore[attr-defined]


def an_address() -> str:
    """Return an address no other test joined from this minute (the per-address counts live in Redis a minute)."""
    return f"198.51.100.{secrets.randbelow(254) + 1}"


def join(client: Client, code: str, name: str) -> str:
    response = client.post(f"/w/{code}", {"name": name})
    assert response.status_code == 302, response.content
    return str(response["Location"])


def test_it_seats_30_learners_behind_one_address(live: Playground, bob: User, strict_limits: None) -> None:
    workshop = workshop_of(bob, live, seats=30)
    learners = [Client(REMOTE_ADDR="203.0.113.7") for _ in range(31)]
    pages = [join(learner, workshop.code, f"learner {n}") for n, learner in enumerate(learners[:30])]
    assert len(set(pages)) == 30 and all(page.startswith("/p/") for page in pages)
    assert Session.objects.live().filter(seats__workshop=workshop).count() == 30
    full = learners[30].post(f"/w/{workshop.code}", {"name": "late"})
    assert full.status_code == 409 and "all 30 seats" in full.content.decode()
    assert workshop.seat_set.count() == 30


def test_one_address_cannot_fill_every_room_it_has_a_code_for(live: Playground, bob: User, strict_limits: None) -> None:
    first, second = workshop_of(bob, live, seats=3), workshop_of(bob, live, seats=3)
    address = an_address()
    learners = [Client(REMOTE_ADDR=address) for _ in range(3)]
    for n, learner in enumerate(learners):
        join(learner, first.code, f"learner {n}")
    sessions = Session.objects.count()
    # A script holding both codes, from the same address, even claiming to come from elsewhere (no trusted proxy).
    script = Client(REMOTE_ADDR=address, HTTP_X_FORWARDED_FOR="192.0.2.99")
    refused = script.post(f"/w/{second.code}", {"name": "grab"})
    assert refused.status_code == 429 and "too many new seats" in refused.content.decode()
    assert not second.seat_set.exists() and Session.objects.count() == sessions
    # A learner elsewhere still gets a seat; coming back to a seat takes no new one, so it is never refused.
    join(Client(REMOTE_ADDR=an_address()), second.code, "elsewhere")
    assert learners[0].post(f"/w/{first.code}", {"name": "again"}).status_code == 302


def test_an_ipv6_client_counts_as_its_64(live: Playground, bob: User, strict_limits: None) -> None:
    pair, other = workshop_of(bob, live, seats=2), workshop_of(bob, live, seats=2)
    prefix = f"2001:db8:{secrets.randbelow(0xFFFF):x}:{secrets.randbelow(0xFFFF):x}"
    join(Client(REMOTE_ADDR=f"{prefix}::1"), pair.code, "one")
    join(Client(REMOTE_ADDR=f"{prefix}::2"), pair.code, "two")
    refused = Client(REMOTE_ADDR=f"{prefix}:1:2:3:4").post(f"/w/{other.code}", {"name": "three"})
    assert refused.status_code == 429 and not other.seat_set.exists()


def test_it_gives_the_same_browser_its_seat_again(live: Playground, bob: User) -> None:
    workshop = workshop_of(bob, live)
    learner = Client()
    page = join(learner, workshop.code, "Ada")
    again = learner.get(f"/w/{workshop.code.lower()}")
    assert again.status_code == 302 and again["Location"] == page
    assert Seat.objects.filter(workshop=workshop).count() == 1


def test_it_says_a_workshop_has_not_started(client: Client, bob: User, playground: Playground) -> None:
    workshop = workshop_of(bob, playground, starts_at=timezone.now() + timedelta(hours=1))
    response = client.post(f"/w/{workshop.code}", {"name": "Ada"})
    assert response.status_code == 403 and "starts at" in response.content.decode()
    assert not Seat.objects.exists()


def test_it_says_a_workshop_has_ended(client: Client, bob: User, playground: Playground) -> None:
    workshop = workshop_of(bob, playground, ends_at=timezone.now() - timedelta(minutes=1))
    response = client.post(f"/w/{workshop.code}", {"name": "Ada"})
    assert response.status_code == 410 and "has ended" in response.content.decode()


def test_it_says_no_workshop_has_that_code(client: Client, db: None) -> None:
    response = client.get("/w/ZZZZZZ")
    assert response.status_code == 404 and "No workshop has the code" in response.content.decode()


def test_it_takes_a_code_typed_in_the_form(client: Client, db: None) -> None:
    response = client.post("/w/", {"code": " abc234 "})
    assert response.status_code == 302 and response["Location"] == "/w/ABC234"
