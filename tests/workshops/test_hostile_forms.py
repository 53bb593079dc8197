"""Hand-made form values on the join and trainer pages fail with a clear 4xx, never a 500 nor a wider action."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from sessions.models import Playground
from tests.workshops.conftest import workshop_of

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("code", ["A/B", "AB?C=D", "ÄÖÜ234", "x" * 5000, "ABC10O"])
def test_a_code_that_no_workshop_could_have_is_refused_on_the_form(code: str) -> None:
    response = Client(raise_request_exception=False).post("/w/", {"code": code})
    assert response.status_code == 400 and "A join code is 6 letters and digits" in response.content.decode()


@pytest.mark.parametrize("seat", ["²", "-1", "1 OR 1=1", "9" * 40])
def test_a_mangled_seat_ends_nothing_rather_than_every_seat(bob: User, playground: Playground, seat: str) -> None:
    workshop = workshop_of(bob, playground)
    client = Client(raise_request_exception=False)
    client.force_login(bob)
    for action in ("end", "extend"):
        response = client.post(f"/workshops/{workshop.pk}/{action}", {"seat": seat})
        assert response.status_code == 400 and "No such seat." in response.content.decode()
