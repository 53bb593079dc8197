"""An instance whose provisioning outlived the process starting it is failed and its sandbox removed."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.test import override_settings
from django.utils import timezone

from engine import sandboxes
from engine.daemon import default
from sessions import reconcile
from sessions.models import Instance, Playground, Session
from tests.conftest import Api


@override_settings(ORPHAN_GRACE=0)
def test_it_fails_provisioning_that_got_stuck(live: Playground, api: Api) -> None:
    session_id = api.start()
    name = api.add(session_id)["name"]
    reserved = timezone.now() - timedelta(seconds=settings.PROVISIONING_TIMEOUT + 1)
    Instance.objects.filter(name=name).update(state=Instance.State.PROVISIONING, created_at=reserved)

    reconcile.sweep()

    assert Instance.objects.get(name=name).state == Instance.State.GONE
    assert sandboxes.labelled_objects(default(), session_id)["containers"] == []
    assert Session.objects.get(pk=session_id).is_live


def test_it_leaves_provisioning_in_progress_alone(live: Playground, api: Api) -> None:
    session_id = api.start()
    name = api.add(session_id)["name"]
    Instance.objects.filter(name=name).update(state=Instance.State.PROVISIONING)

    reconcile.sweep()

    assert Instance.objects.get(name=name).state == Instance.State.PROVISIONING
    assert sandboxes.labelled_objects(default(), session_id)["containers"]
