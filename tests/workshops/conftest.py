"""The accounts' cast (bob a trainer, charlie a plain account; tests/accounts/conftest.py), and a workshop of bob's."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from sessions.models import Playground
from tests.accounts.conftest import PASSWORD, bob, charlie  # noqa: F401 (fixtures, and the password they share)
from workshops.models import Workshop


def workshop_of(trainer: User, playground: Playground, **fields: Any) -> Workshop:
    """Make an open workshop with no nodes (fast), unless fields say otherwise."""
    now = timezone.now()
    values: dict[str, Any] = {
        "title": "Swarm 101",
        "seats": 3,
        "starts_at": now - timedelta(minutes=1),
        "ends_at": now + timedelta(hours=2),
        "instances": 0,
        **fields,
    }
    return Workshop.objects.create(trainer=trainer, playground=playground, **values)


@pytest.fixture(autouse=True)
def own_channel_layer(settings: Any) -> None:
    """Publish on the Redis database the terminals' tests and their Daphne use (flock keeps runs apart)."""
    from tests.terminals.conftest import REDIS_URL

    layer = copy.deepcopy(settings.CHANNEL_LAYERS)
    layer["default"]["CONFIG"]["hosts"][0]["address"] = REDIS_URL
    settings.CHANNEL_LAYERS = layer
