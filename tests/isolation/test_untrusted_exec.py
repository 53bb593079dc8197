"""An instance whose `docker` never answers, or never stops talking, holds up no one but itself.

The learner owns everything inside an instance. The platform's commands there (the port scan, readiness) stop at
their deadline and their output cap, and the scans run apart from expiry, so every other session still ends on time.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.utils import timezone

from router import ports
from sessions import engine
from sessions.models import Playground, Session
from tests.conftest import Api, sh, wait_until_ended
from tests.processes import Processes

SCAN_TIMEOUT = 2.0
SLEEPING_DOCKER = "printf '#!/bin/sh\\nsleep infinity\\n' > /usr/local/bin/docker; chmod +x /usr/local/bin/docker"
CHATTY_DOCKER = "printf '#!/bin/sh\\nexec yes\\n' > /usr/local/bin/docker; chmod +x /usr/local/bin/docker"


@pytest.fixture
def fast_scans(monkeypatch: pytest.MonkeyPatch, settings: Any) -> Iterator[None]:
    """Scan every second with a short deadline, here and in the Celery processes started after this fixture."""
    monkeypatch.setenv("PORTS_SCAN_INTERVAL", "1")
    monkeypatch.setenv("PORTS_SCAN_TIMEOUT", str(SCAN_TIMEOUT))
    settings.PORTS_SCAN_TIMEOUT = SCAN_TIMEOUT
    yield


def hostile(api: Api, script: str) -> dict[str, Any]:
    instance = api.add(api.start())
    code, output = sh(instance, script)
    assert code == 0, output
    return instance


def running(instance: dict[str, Any], process: str) -> bool:
    code, _ = sh(instance, f"pgrep -fx '{process}'")
    return code == 0


def test_it_ends_another_session_on_time_while_an_instance_sleeps_in_every_scan(
    fast_scans: None, live: Playground, celery: Processes, api: Api
) -> None:
    hostile(api, SLEEPING_DOCKER)
    session_id = api.start(**{"session-duration": "15s"})
    api.add(session_id)
    session = Session.objects.get(pk=session_id)

    wait_until_ended(session_id)
    lateness = (timezone.now() - session.expires_at).total_seconds()
    assert lateness <= 5, f"gone {lateness:.1f}s after the deadline"
    log = celery.log("ports")
    assert "was cut short" in log
    rounds = [float(s) for s in re.findall(r"announce_ports\[[^]]+\] succeeded in ([\d.]+)s", log)]
    assert len(rounds) >= 10
    assert max(rounds) <= SCAN_TIMEOUT + 1


def test_it_ends_a_scan_round_at_its_deadline_and_stops_the_sleeper(
    fast_scans: None, live: Playground, api: Api
) -> None:
    sleeper = hostile(api, SLEEPING_DOCKER)
    api.add(api.start())

    started = time.monotonic()
    announced = ports.announce_ports()
    took = time.monotonic() - started

    assert took <= SCAN_TIMEOUT + 0.5, f"the round took {took:.1f}s"
    assert announced == 1, "the well-behaved instance is announced, the sleeping one is not"
    assert not running(sleeper, "sleep infinity"), "the cut-short scan's processes were killed"
    started = time.monotonic()
    assert ports.announce_ports() == 1
    assert time.monotonic() - started < 1, "an instance cut short is left alone for a while"


def test_it_stops_reading_an_instance_that_never_stops_printing(fast_scans: None, live: Playground, api: Api) -> None:
    chatty = hostile(api, CHATTY_DOCKER)

    started = time.monotonic()
    with pytest.raises(engine.ExecCutShort, match="printed more than"):
        ports.published_ports(chatty["name"])
    assert time.monotonic() - started < SCAN_TIMEOUT, "the cap ends it, not the deadline"
    assert not running(chatty, "yes")


def test_it_stops_any_command_at_its_deadline_when_it_prints_nothing(live: Playground, api: Api) -> None:
    instance = api.add(api.start())

    started = time.monotonic()
    with pytest.raises(engine.ExecCutShort, match="did not finish in time"):
        engine.exec_run(instance["name"], ["sh", "-c", "sleep 30; echo late"], timeout=1)
    assert time.monotonic() - started < 2
    assert not running(instance, "sleep 30")
