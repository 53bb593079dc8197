"""Each site serves its playground: how long sessions last, which images instances may run."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from sessions.models import Playground


@pytest.mark.parametrize(
    ("duration", "label"),
    [(timedelta(hours=4), "4 hours"), (timedelta(hours=1), "1 hour"), (timedelta(minutes=90), "90 minutes")],
)
def test_it_says_how_long_sessions_last(duration: timedelta, label: str) -> None:
    assert Playground(session_duration=duration).duration_label == label


def test_it_serves_the_playground_of_the_host(db: None) -> None:
    training = Playground.objects.create(domain="training.example")
    Playground.objects.create(domain="labs.example")
    assert Playground.for_host("training.example:8000") == training


def test_it_falls_back_to_the_first_playground(db: None) -> None:
    Playground.objects.create(domain="second.example")
    first = Playground.objects.get(domain=settings.PLAYGROUND_DOMAIN)
    assert Playground.for_host("unknown.example") == first


def test_migrate_names_the_first_playground_and_a_request_only_reads(db: None) -> None:
    assert list(Playground.objects.values_list("domain", flat=True)) == [settings.PLAYGROUND_DOMAIN]
    with CaptureQueriesContext(connection) as queries:
        Playground.for_host("elsewhere.example")
    assert all(query["sql"].startswith("SELECT") for query in queries.captured_queries)


def test_it_lists_the_default_image_first(db: None) -> None:
    playground = Playground(default_image="a", extra_images=["b", "a", "c"])
    assert playground.images == ["a", "b", "c"]


def test_it_lists_the_images(client: Client, playground: Playground) -> None:
    assert client.get("/instances/images").json() == [playground.default_image]


def test_it_describes_the_playground(client: Client, playground: Playground) -> None:
    body = client.get("/my/playground").json()
    assert body["max_instances"] == 5
    assert body["default_session_duration"] == 4 * 3600
