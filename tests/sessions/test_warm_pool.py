"""The warm pool: sessions booted ahead, handed to the next Start, refilled, and removed cleanly."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from engine import names, sandboxes
from engine.daemon import default
from sessions import pools, reconcile, warm
from sessions.expiry import sessions_to_end
from sessions.models import Instance, Playground, Session
from tests.conftest import NOTHING, Api, at_once, sh
from tests.processes import Processes, wait_until


@pytest.fixture
def pool_of(settings: Any) -> Any:
    """Size the public pool and boot it in this process, as the beat's tasks would; return the ready ids."""

    def fill(size: int) -> set[str]:
        settings.WARM_POOL_SIZE = settings.WARM_POOL_BOOTS_AT_ONCE = size
        reserved, _ = warm.keep_warm()
        for session_id in reserved:
            warm.boot(session_id)
        return ready()

    return fill


def start(client: Client, **form: str) -> str:
    """Click Start as the home page's form does; return the session it lands on."""
    response = client.post("/", form)
    assert response.status_code == 302, response.content
    return str(response["Location"]).removeprefix("/p/").strip("/")


def ready() -> set[str]:
    key = pools.public(Playground.for_host("testserver")).key
    return set(Session.objects.warm(key).ready(1).values_list("pk", flat=True))


def test_it_hands_a_warm_session_to_a_start_with_node1_ready(
    live: Playground, pool_of: Any, client: Client, api: Api
) -> None:
    (warm_id,) = pool_of(1)
    before = timezone.now()

    session_id = start(client, **{"session-duration": "90m"})

    assert session_id == warm_id
    session = Session.objects.get(pk=session_id)
    assert session.pool == "" and session.image_name == ""
    assert session.created_at >= before, "its clock starts at the claim"
    assert session.expires_at - session.created_at == timedelta(minutes=90)
    (node,) = api.get(session_id)["instances"].values()
    assert node["hostname"] == "node1" and node["state"] == "running"
    assert node["name"].startswith(f"pg-{names.short(session_id)}-node1-")
    code, output = sh(node, "docker info --format '{{.ServerVersion}}' && docker ps -aq | wc -l")
    assert code == 0 and output.split()[-1] == "0", output
    assert len(sandboxes.labelled_objects(default(), session_id)["networks"]) == 1, "its own private network"


def test_concurrent_starts_get_distinct_sessions(live: Playground, pool_of: Any) -> None:
    warm_ids = pool_of(2)
    assert len(warm_ids) == 2
    started: list[str] = []
    barrier = threading.Barrier(3)

    def click() -> None:
        try:
            barrier.wait()
            started.append(start(Client()))
        finally:
            connection.close()

    threads = [threading.Thread(target=click) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(set(started)) == 3
    assert warm_ids < set(started), "both warm sessions were handed out, each once; the third start went cold"
    assert not ready()


def test_a_start_asking_another_image_gets_a_cold_session(live: Playground, pool_of: Any, client: Client) -> None:
    live.extra_images = ["playground/other:latest"]
    live.save()
    warm_ids = pool_of(1)

    session_id = start(client, image_name="playground/other:latest")

    assert session_id not in warm_ids and ready() == warm_ids
    assert not Session.objects.get(pk=session_id).instances.exists()


def test_api_clients_get_an_empty_session_as_before(live: Playground, pool_of: Any, api: Api) -> None:
    warm_ids = pool_of(1)

    session_id = api.start()

    assert session_id not in warm_ids and ready() == warm_ids
    api.add(session_id, {"Hostname": "node1", "ImageName": "", "Envs": [], "Networks": []})


def test_lowering_the_size_removes_the_extras_with_their_objects(live: Playground, pool_of: Any, settings: Any) -> None:
    warm_ids = pool_of(2)
    assert len(warm_ids) == 2
    settings.WARM_POOL_SIZE = 1

    reserved, retiring = warm.keep_warm()
    for session_id, reason in retiring:
        warm.retire(session_id, reason)

    assert reserved == []
    ((gone, reason),) = retiring
    assert reason == "the pool is smaller now"
    assert Session.objects.get(pk=gone).state == Session.State.ENDED
    assert sandboxes.labelled_objects(default(), gone) == NOTHING
    assert ready() == warm_ids - {gone}


def test_it_retires_a_warm_session_whose_node_vanished(live: Playground, pool_of: Any) -> None:
    (warm_id,) = pool_of(1)
    instance = Instance.objects.get(session_id=warm_id)
    sandboxes.remove_sandbox(default(), instance.name)

    reconcile.sweep()
    _, retiring = warm.keep_warm()

    assert (warm_id, "broken") in retiring
    warm.retire(warm_id, "broken")
    assert sandboxes.labelled_objects(default(), warm_id) == NOTHING


def test_it_retires_a_reservation_whose_boot_never_came(playground: Playground, settings: Any) -> None:
    settings.WARM_POOL_SIZE = 1
    key = pools.public(playground).key
    long_ago = timezone.now() - timedelta(seconds=settings.PROVISIONING_TIMEOUT + 1)
    stranded = Session.objects.create(playground=playground, created_at=long_ago, expires_at=long_ago, pool=key)

    _, retiring = warm.keep_warm()

    assert (stranded.pk, "broken") in retiring


def test_warm_sessions_never_expire_as_learners_do(playground: Playground) -> None:
    now = timezone.now()
    waiting = Session.objects.create(playground=playground, expires_at=now - timedelta(seconds=1), pool="p:i:1")
    assert waiting.pk not in {pk for pk, _ in sessions_to_end(now)}


def test_the_beat_fills_the_pool_and_refills_it_after_a_claim(
    warm_env: None, live: Playground, celery: Processes, client: Client
) -> None:
    most = 0

    def filled() -> bool:
        """the pool holds two ready sessions"""
        nonlocal most
        most = max(most, Session.objects.warm(pools.public(live).key).count())
        return len(ready()) == 2

    wait_until(filled, timeout=120, interval=0.2)
    waiting = ready()
    claimed = start(client)
    assert claimed in waiting
    wait_until(filled, timeout=120, interval=0.2)

    assert claimed not in ready()
    assert most <= 2, f"the pool held {most} sessions at once"


@pytest.fixture
def warm_env(monkeypatch: pytest.MonkeyPatch, settings: Any) -> None:
    """Size the public pool at 2 for the worker and beat the celery fixture starts, and for this process."""
    monkeypatch.setenv("WARM_POOL_SIZE", "2")
    settings.WARM_POOL_SIZE = 2


def test_a_crowd_claiming_at_once_gets_every_ready_session(transactional_db: None, playground: Playground) -> None:
    """More learners at once than CLAIM_ATTEMPTS: each gets a warm session, none goes cold for a lost race."""
    crowd = 12
    now = timezone.now()
    for n in range(crowd):  # rows only: claiming reads the database, never the engine
        session = Session.objects.create(
            playground=playground, expires_at=now + timedelta(hours=1), pool="crowd", image_name="x"
        )
        Instance.objects.create(session=session, name=f"crowd-{n}-{session.pk[:8]}", state=Instance.State.RUNNING)
    claimed = at_once(crowd, lambda: Session.claim_warm("crowd", 1, timedelta(hours=1)))
    assert None not in claimed and len({session.pk for session in claimed if session}) == crowd
    assert not Session.objects.warm("crowd").exists()
