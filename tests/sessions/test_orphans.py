"""Labelled objects that belong to no live session or instance are removed; other deployments' never are."""

from __future__ import annotations

from django.conf import settings
from django.test import override_settings

from engine import sandboxes
from engine.daemon import default
from sessions.models import Instance, Playground, Session, new_session_id
from tests.conftest import NOTHING, Api
from tests.processes import Processes, wait_until


def sandbox_without_session(session_id: str) -> None:
    """Create a session network and a sandbox for a session the database has never heard of."""
    sandboxes.create_session_network(default(), session_id)
    sandboxes.run_sandbox(
        default(),
        sandboxes.SandboxSpec(
            name=f"pg-{session_id[:8]}-orphan",
            hostname="orphan",
            session_id=session_id,
            image=settings.SANDBOX_IMAGE,
            memory_mb=256,
            cpus=0.5,
            pids=256,
        ),
    )


def test_it_removes_a_labelled_sandbox_with_no_session(live: Playground, celery: Processes) -> None:
    orphan = new_session_id()
    sandbox_without_session(orphan)
    assert sandboxes.labelled_objects(default(), orphan)["containers"]

    wait_until(lambda: sandboxes.labelled_objects(default(), orphan) == NOTHING, timeout=20)


def test_it_removes_a_container_whose_instance_is_gone(live: Playground, celery: Processes, api: Api) -> None:
    session_id = api.start()
    instance = api.add(session_id)
    Instance.objects.filter(name=instance["name"]).update(state=Instance.State.GONE)

    wait_until(lambda: not sandboxes.labelled_objects(default(), session_id)["containers"], timeout=20)
    assert sandboxes.labelled_objects(default(), session_id)["networks"], "the live session keeps its network"
    assert Session.objects.get(pk=session_id).is_live


def test_it_leaves_other_deployments_objects_alone(live: Playground, celery: Processes) -> None:
    other = override_settings(SANDBOX_DEPLOYMENT=f"{settings.SANDBOX_DEPLOYMENT}-other")
    theirs, ours = new_session_id(), new_session_id()
    with other:
        sandboxes.create_session_network(default(), theirs)
    sandboxes.create_session_network(default(), ours)
    try:
        # Once our orphan is removed, a sweep has judged both networks, past the grace period.
        wait_until(lambda: not sandboxes.labelled_objects(default(), ours)["networks"], timeout=20)
        with other:
            assert sandboxes.labelled_objects(default(), theirs)["networks"]
    finally:
        sandboxes.remove_session_objects(default(), theirs)
