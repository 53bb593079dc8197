"""A learner checks a lesson's steps: the check runs in their real instance, with a deadline and an output cap."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

import pytest
from django.contrib.auth.models import User
from django.test import Client

from engine import daemon
from sessions.models import Playground, Session
from tests.conftest import sh
from tests.workshops.conftest import workshop_of
from workshops import checks, dashboard
from workshops.models import StepCheck, Workshop

LESSON = """Today: files. <script>alert(1)</script> [x](javascript:alert(2))

## Make a file
```run
touch /root/done
```
```check
echo "no /root/done yet"; test -f /root/done
```

## Flood
```check
yes
```

## Hang
```check
sleep 100
```

## Read
Nothing to check here.
"""


@pytest.fixture
def quick_checks(settings: Any) -> None:
    settings.LESSON_CHECK_TIMEOUT = 3.0


def seated(live: Playground, bob: User) -> tuple[Workshop, Client, Session]:
    workshop = workshop_of(bob, live, instances=1, lesson=LESSON)
    learner = Client()
    response = learner.post(f"/w/{workshop.code}", {"name": "Ada"})
    assert response.status_code == 302, response.content
    session = Session.objects.get(seats__workshop=workshop)
    return workshop, learner, session


def check(client: Client, session: Session, step: int, body: str = "") -> Any:
    return client.post(f"/w/lesson/{session.id}/steps/{step}/check", body, content_type="application/json")


def test_a_step_passes_once_the_learner_did_it(live: Playground, bob: User, quick_checks: None) -> None:
    workshop, learner, session = seated(live, bob)
    page = learner.get(f"/p/{session.id}").content.decode()
    assert 'id="lesson"' in page and "Make a file" in page and "test -f" not in page
    assert "<script>alert(1)" not in page and 'href="javascript' not in page

    node1 = session.live_instances().get()
    failed = check(learner, session, 0, f'{{"instance": "{node1.name}"}}')
    assert failed.status_code == 200
    assert failed.json() == {"step": 0, "passed": False, "output": "no /root/done yet\n", "instance": node1.name}
    assert dashboard.snapshot(workshop)["seats"][0]["lesson"] == ["failed", "", "", ""]

    assert sh(node1, "touch /root/done")[0] == 0
    passed = check(learner, session, 0)  # no instance named: node1
    assert passed.status_code == 200 and passed.json()["passed"] is True
    assert StepCheck.objects.get(seat__session=session, step=0).passed
    assert dashboard.snapshot(workshop)["seats"][0]["lesson"] == ["passed", "", "", ""]
    assert 'data-state="passed"' in learner.get(f"/p/{session.id}").content.decode()

    workshop.title = "Files, again"
    workshop.save()
    assert StepCheck.objects.filter(seat__session=session).exists(), "only a new lesson clears the marks"
    workshop.lesson = "## A new first step\n```check\ntrue\n```\n" + LESSON
    workshop.save()
    assert not StepCheck.objects.filter(seat__session=session).exists()
    assert dashboard.snapshot(workshop)["seats"][0]["lesson"] == ["", "", "", "", ""]


def test_a_hostile_instance_fails_the_check_in_time(live: Playground, bob: User, quick_checks: None) -> None:
    _, learner, session = seated(live, bob)
    flood = check(learner, session, 1)
    assert flood.status_code == 200 and flood.json()["passed"] is False
    assert "printed more than" in flood.json()["output"]

    started = time.monotonic()
    hang = check(learner, session, 2)
    assert hang.status_code == 200 and hang.json()["passed"] is False
    assert "did not finish in time" in hang.json()["output"]
    assert time.monotonic() - started < 8


def test_it_refuses_what_it_cannot_check(live: Playground, bob: User, quick_checks: None) -> None:
    _, learner, session = seated(live, bob)
    refusals = {
        "no such step": (check(learner, session, 9), 404, "no_such_step"),
        "nothing to check": (check(learner, session, 3), 400, "step_has_no_check"),
        "someone else's instance": (check(learner, session, 0, '{"instance": "other"}'), 400, "bad_request"),
        "not JSON": (check(learner, session, 0, "[[["), 400, "bad_request"),
        "not a name": (check(learner, session, 0, '{"instance": 7}'), 400, "bad_request"),
    }
    for why, (response, status, code) in refusals.items():
        assert (response.status_code, response.json()["error"]) == (status, code), why
    with checks._running.hold(session.id, 1, 100):
        busy = check(learner, session, 0)
    assert busy.status_code == 409 and busy.json()["error"] == "check_running"
    assert learner.get(f"/w/lesson/{session.id}/steps/-1/check").status_code == 405


def test_a_step_that_is_no_number_is_a_clean_404(live: Playground, bob: User) -> None:
    _, learner, session = seated(live, bob)
    for step in ["-1", "x", "1.5", "²", "0x1", " 1", "9" * 5000, "99999999999999999999"]:
        response = learner.post(f"/w/lesson/{session.id}/steps/{quote(step)}/check")
        assert (response.status_code, response.json()["error"]) == (404, "no_such_step"), step[:20]
    assert not StepCheck.objects.exists()
    # Any other path under steps/ is no route: the site's 404 page, never a 500.
    for path in ("steps/-1/", "steps/-1", "steps/0/check/again", "steps//check"):
        response = learner.get(f"/w/lesson/{session.id}/{path}")
        assert response.status_code == 404, path
        assert "Nothing is at this address" in response.content.decode(), path


def test_an_instance_gone_under_the_check_is_a_409(live: Playground, bob: User, quick_checks: None) -> None:
    _, learner, session = seated(live, bob)
    daemon.default().client().containers.get(session.live_instances().get().name).remove(force=True)
    gone = check(learner, session, 0)
    assert gone.status_code == 409 and gone.json()["error"] == "check_not_run"
    learner.post(f"/sessions/{session.id}/close")
    assert check(learner, session, 0).status_code == 410


def test_a_session_without_a_lesson_has_no_panel_nor_checks(live: Playground, bob: User, client: Client) -> None:
    workshop = workshop_of(bob, live)
    client.post(f"/w/{workshop.code}", {"name": "Ada"})
    session = Session.objects.get(seats__workshop=workshop)
    assert 'id="lesson"' not in client.get(f"/p/{session.id}").content.decode()
    refused = check(client, session, 0)
    assert refused.status_code == 404 and refused.json()["error"] == "no_lesson"
    assert dashboard.snapshot(workshop)["steps"] == 0
