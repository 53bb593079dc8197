"""Trainers create workshops and see their page; anyone else is refused clearly."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import User
from django.test import Client

from sessions.models import Playground
from tests.workshops.conftest import workshop_of
from workshops.models import CODE_ALPHABET, Workshop

pytestmark = pytest.mark.django_db

TEMPLATE = json.dumps({"instances": [{"is_swarm_manager": True}, {"is_swarm_worker": True}]})


def form(**fields: str) -> dict[str, str]:
    return {
        "title": "Swarm 101",
        "seats": "3",
        "starts_at": "2026-01-01 09:00",
        "ends_at": "2026-01-01 12:00",
        "image": "",
        "instances": "1",
        "session_length": "02:00:00",
        "template": TEMPLATE,
        "warm_pool": "3",
        **fields,
    }


def test_it_creates_a_workshop_with_a_code(client: Client, bob: User) -> None:
    client.force_login(bob)
    response = client.post("/workshops/", form())
    workshop = Workshop.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/workshops/{workshop.pk}/"
    assert workshop.trainer == bob and len(workshop.nodes()) == 2
    assert len(workshop.code) == 6 and set(workshop.code) <= set(CODE_ALPHABET)
    page = client.get(response["Location"])
    assert page.status_code == 200 and workshop.code in page.content.decode()


def test_it_refuses_a_bad_template_with_a_message(client: Client, bob: User) -> None:
    client.force_login(bob)
    response = client.post("/workshops/", form(template='{"instances": [{"is_swarm_worker": true}]}'))
    assert response.status_code == 400
    assert "swarm workers need a swarm manager" in response.content.decode()
    assert not Workshop.objects.exists()


def test_it_refuses_a_workshop_that_ends_before_it_starts(client: Client, bob: User) -> None:
    client.force_login(bob)
    response = client.post("/workshops/", form(ends_at="2026-01-01 08:00"))
    assert response.status_code == 400 and not Workshop.objects.exists()


def test_it_refuses_a_learner_account(client: Client, charlie: User) -> None:
    client.force_login(charlie)
    response = client.get("/workshops/")
    assert response.status_code == 403 and "Only trainers" in response.content.decode()


def test_it_sends_a_visitor_to_log_in(client: Client) -> None:
    response = client.get("/workshops/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_it_hides_another_trainers_workshop(client: Client, bob: User, playground: Playground) -> None:
    dave = User.objects.create_user("dave")
    dave.groups.add(*bob.groups.all())
    theirs = workshop_of(dave, playground)
    client.force_login(bob)
    assert client.get(f"/workshops/{theirs.pk}/").status_code == 404
    assert client.post(f"/workshops/{theirs.pk}/end").status_code == 404
