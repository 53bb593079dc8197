"""A command the platform runs inside an instance stops at its deadline and its output cap, whatever it does.

The learner owns everything inside an instance, `docker` included (the readiness check runs it).
"""

from __future__ import annotations

import time
from typing import Any

import pytest

import engine
from engine import execs
from engine.daemon import default
from sessions.models import Playground
from tests.conftest import Api, sh

CHATTY_DOCKER = "printf '#!/bin/sh\\nexec yes \"$@\"\\n' > /usr/local/bin/docker; chmod +x /usr/local/bin/docker"


def hostile(api: Api, script: str) -> dict[str, Any]:
    instance = api.add(api.start())
    code, output = sh(instance, script)
    assert code == 0, output
    return instance


def left_running(instance: dict[str, Any], process: str, within: float = 5) -> list[str]:
    """The `ps` lines of processes running the command line `process` in the instance, once none is left or
    `within` seconds have passed.

    The kill is sent before exec_run raises, but the process is gone from the process table only once the
    container's shim has reaped it; a killed one not reaped yet is a zombie, dead already, which `pgrep -f`
    still matches by its name (its command line is gone) and `ps` shows as "[yes] <defunct>".
    """
    deadline = time.monotonic() + within
    while True:
        code, output = sh(instance, "ps -eo pid=,stat=,args=")
        assert code == 0, output
        running = [line for line in output.splitlines() if line.split(None, 2)[2:] == [process]]
        if not running or time.monotonic() > deadline:
            return running
        time.sleep(0.1)


def test_it_stops_reading_an_instance_that_never_stops_printing(live: Playground, api: Api) -> None:
    chatty = hostile(api, CHATTY_DOCKER)

    started = time.monotonic()
    with pytest.raises(engine.ExecCutShort, match="printed more than"):
        execs.exec_run(default(), chatty["name"], ["docker", "chatty"], timeout=10, limit=64 * 1024)
    assert time.monotonic() - started < 5, "the cap ends it, not the deadline"
    assert left_running(chatty, "yes chatty") == []


def test_it_stops_any_command_at_its_deadline_when_it_prints_nothing(live: Playground, api: Api) -> None:
    instance = api.add(api.start())

    started = time.monotonic()
    with pytest.raises(engine.ExecCutShort, match="did not finish in time"):
        execs.exec_run(default(), instance["name"], ["sh", "-c", "sleep 30; echo late"], timeout=1)
    assert time.monotonic() - started < 2
    assert left_running(instance, "sleep 30") == []
