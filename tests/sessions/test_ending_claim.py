"""Ending is claimed once: a second caller backs off, unless the first one's claim lapsed (it crashed)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from engine import sandboxes
from engine.daemon import default
from sessions import lifecycle
from sessions.models import Playground, Session
from tests.conftest import Api


def test_it_lets_only_one_caller_claim_an_ending(live: Playground, api: Api) -> None:
    session = Session.objects.get(pk=api.start())
    other = Session.objects.get(pk=session.pk)

    assert session.claim_ending("expired")
    assert not other.claim_ending("deleted")
    assert other.end_reason == "expired"


def test_it_leaves_a_fresh_claim_to_its_holder(live: Playground, api: Api) -> None:
    session = Session.objects.get(pk=api.start())
    assert session.claim_ending("expired")

    lifecycle.end_session(Session.objects.get(pk=session.pk), "deleted")

    assert Session.objects.get(pk=session.pk).state == Session.State.ENDING
    assert sandboxes.labelled_objects(default(), session.id)["networks"], "the holder is still removing them"


def test_it_takes_over_an_ending_whose_claim_lapsed(live: Playground, api: Api) -> None:
    session = Session.objects.get(pk=api.start())
    assert session.claim_ending("expired")
    lapsed = timezone.now() - timedelta(seconds=settings.ENDING_LEASE + 1)
    Session.objects.filter(pk=session.pk).update(ended_at=lapsed)

    lifecycle.end_session(Session.objects.get(pk=session.pk), "deleted")

    ended = Session.objects.get(pk=session.pk)
    assert (ended.state, ended.end_reason) == (Session.State.ENDED, "expired")
    assert sandboxes.labelled_objects(default(), session.id)["networks"] == []
