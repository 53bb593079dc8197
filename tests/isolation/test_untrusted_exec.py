"""A command the platform runs inside an instance stops at its deadline and its output cap, whatever it does.

The learner owns everything inside an instance, `docker` included (the readiness check runs it).
"""

from __future__ import annotations

import time
from typing import Any

import pytest

import engine
from engine import execs
from sessions.models import Playground
from tests.conftest import Api, sh

CHATTY_DOCKER = "printf '#!/bin/sh\\nexec yes\\n' > /usr/local/bin/docker; chmod +x /usr/local/bin/docker"


def hostile(api: Api, script: str) -> dict[str, Any]:
    instance = api.add(api.start())
    code, output = sh(instance, script)
    assert code == 0, output
    return instance


def running(instance: dict[str, Any], process: str) -> bool:
    code, _ = sh(instance, f"pgrep -fx '{process}'")
    return code == 0


def test_it_stops_reading_an_instance_that_never_stops_printing(live: Playground, api: Api) -> None:
    chatty = hostile(api, CHATTY_DOCKER)

    started = time.monotonic()
    with pytest.raises(engine.ExecCutShort, match="printed more than"):
        execs.exec_run(chatty["name"], ["docker", "ps"], timeout=10, limit=64 * 1024)
    assert time.monotonic() - started < 5, "the cap ends it, not the deadline"
    assert not running(chatty, "yes")


def test_it_stops_any_command_at_its_deadline_when_it_prints_nothing(live: Playground, api: Api) -> None:
    instance = api.add(api.start())

    started = time.monotonic()
    with pytest.raises(engine.ExecCutShort, match="did not finish in time"):
        execs.exec_run(instance["name"], ["sh", "-c", "sleep 30; echo late"], timeout=1)
    assert time.monotonic() - started < 2
    assert not running(instance, "sleep 30")
