"""Stacks: a compose file, by a "Try in PWD" link or uploaded, deploys into the session with its output kept.

The learner is root in the instance and may replace `docker`: the deploy is cut at a deadline even when it prints
nothing, and at an output cap; what it prints is kept as plain text.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone
from kombu.exceptions import OperationalError

from playground.celery import app as celery_app
from sessions import stacks, tasks
from sessions.models import Playground, Session, StackState
from tests.conftest import Api, fetch, sh
from tests.processes import wait_until
from tests.sessions.stackfiles import COMPOSE, serving, worker


@pytest.fixture
def files(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Serve stack files on loopback, a host this server (and its workers) may fetch from; yield host:port."""
    with serving() as host:
        settings.FETCH_ALLOWED_HOSTS = [host]
        monkeypatch.setenv("FETCH_ALLOWED_HOSTS", host)
        yield host


@pytest.fixture
def queued(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """Keep the deploys requests enqueue, instead of sending them to a broker no worker here reads."""
    calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr(tasks.deploy_stack, "delay", lambda *args: calls.append(args))
    return calls


def post_stack(client: Client, session_id: str, data: Any, **kwargs: Any) -> Any:
    return client.post(f"/sessions/{session_id}/stack", data, headers={"x-requested-with": "XMLHttpRequest"}, **kwargs)


def deploy(session_id: str, compose: str | None = COMPOSE, name: str = "demo") -> Session:
    """Queue and run a deploy here, as the worker's task does; return the session as it then is."""
    stacks.queue(Session.objects.get(pk=session_id), name)
    stacks.deploy(session_id, compose)
    return Session.objects.get(pk=session_id)


def fake_docker(node: dict[str, Any], script: str) -> None:
    """Replace the instance's `docker` with a script, as its root may."""
    code, output = sh(node, f"cat > /usr/bin/docker <<'EOF'\n#!/bin/sh\n{script}\nEOF\nchmod +x /usr/bin/docker")
    assert code == 0, output


@pytest.mark.parametrize(
    ("given", "expected"),
    [("My App", "my-app"), ("", "stack"), ("--rm", "rm"), ("_x_", "x"), ("a" * 80, "a" * 63), ("é!", "stack")],
)
def test_it_makes_a_compose_project_name_of_any_stack_name(given: str, expected: str) -> None:
    assert stacks.project_name(given) == expected


@pytest.fixture
def deploying(
    live: Playground, mirror: str, files: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """Run a worker that deploys stacks, where this process enqueues them; yield the stack files' host."""
    with worker(tmp_path, files) as env:
        monkeypatch.setattr(celery_app.conf, "broker_url", env["REDIS_URL"])
        yield files


def test_a_try_in_pwd_link_deploys_its_stack_in_a_worker(deploying: str, api: Api) -> None:
    session_id = api.start(stack=f"http://{deploying}/stack.yml", stack_name="Demo App")

    def done() -> bool:
        """the deploy ended"""
        return Session.objects.get(pk=session_id).stack_state in (StackState.READY, StackState.FAILED)

    wait_until(done, timeout=180, interval=0.5)
    session = Session.objects.get(pk=session_id)
    assert session.stack_state == StackState.READY, session.stack_output
    assert session.stack_name == "demo-app"
    assert "demo-app" in session.stack_output
    node1 = session.live_instances().get()
    assert node1.hostname == "node1"
    assert "localhost" in fetch(node1.to_json(), "localhost:8080/hosts")


def test_a_link_to_a_host_not_allowed_is_refused_before_a_session_starts(db: None, client: Client) -> None:
    response = client.post(
        "/", {"stack": "http://169.254.169.254/latest/meta-data"}, headers={"x-requested-with": "XMLHttpRequest"}
    )
    assert response.status_code == 403
    assert response.json()["error"] == "fetch_not_allowed"
    assert "is not on a host this server fetches from" in response.json()["message"]
    assert not Session.objects.exists()


def test_a_link_names_its_stack_on_the_start_page_as_text(db: None, client: Client) -> None:
    page = client.get("/", {"stack": 'http://x/"><script>alert(1)</script>', "stack_name": '"><b>'}).content.decode()
    assert "<script>alert" not in page and '"><b>' not in page
    assert "&quot;&gt;&lt;script&gt;" in page


def test_an_upload_is_queued_and_a_second_refused_while_it_runs(
    live: Playground, api: Api, client: Client, queued: list[tuple[Any, ...]]
) -> None:
    session_id = api.start()
    response = post_stack(client, session_id, {"file": _upload(COMPOSE.encode()), "stack_name": "web"})
    assert response.status_code == 202, response.content
    assert response.json() == {"stack_name": "web", "stack_state": "queued"}
    assert queued == [(session_id, COMPOSE)]
    again = post_stack(client, session_id, COMPOSE, content_type="application/yaml")
    assert again.status_code == 409
    assert again.json()["error"] == "stack_busy"
    assert api.get(session_id)["stack_state"] == "queued"


def test_a_queue_that_does_not_answer_fails_the_deploy_instead_of_holding_the_session(
    live: Playground, api: Api, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreachable(*args: Any) -> None:
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.deploy_stack, "delay", unreachable)
    session_id = api.start()
    response = post_stack(client, session_id, COMPOSE, content_type="application/yaml")
    assert (response.status_code, response.json()["error"]) == (503, "queue_unavailable")
    assert api.get(session_id)["stack_state"] == "failed"
    monkeypatch.undo()
    # Not left "queued" for STACK_DEPLOY_LEASE: the next try is taken.
    queued: list[tuple[Any, ...]] = []
    monkeypatch.setattr(tasks.deploy_stack, "delay", lambda *args: queued.append(args))
    assert post_stack(client, session_id, COMPOSE, content_type="application/yaml").status_code == 202
    assert queued == [(session_id, COMPOSE)]


def test_deploys_past_the_sites_limit_are_refused_before_anything_starts(
    live: Playground, api: Api, client: Client, queued: list[Any], settings: Any, files: str
) -> None:
    settings.STACK_DEPLOYS_AT_ONCE = 1
    first, second = api.start(), api.start()
    assert post_stack(client, first, {"compose": COMPOSE}).status_code == 202
    refused = post_stack(client, second, {"compose": COMPOSE})
    assert refused.status_code == 503
    assert refused.json()["error"] == "stack_capacity"
    sessions = Session.objects.count()
    link = client.post("/", {"stack": f"http://{files}/stack.yml"}, headers={"x-requested-with": "XMLHttpRequest"})
    assert link.status_code == 503
    assert Session.objects.count() == sessions
    assert len(queued) == 1


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"file": "big"}, 413, "stack_too_large"),
        ({"compose": "   "}, 400, "bad_request"),
        ({"compose": "x", "url": "http://10.0.0.1:2375/containers/json"}, 403, "fetch_not_allowed"),
        ({"compose": "x", "url": "file:///etc/passwd"}, 400, "bad_request"),
        ({"file": "binary"}, 400, "bad_request"),
    ],
)
def test_a_bad_upload_is_refused_clearly(
    live: Playground, api: Api, client: Client, queued: list[Any], body: dict[str, Any], status: int, code: str
) -> None:
    session_id = api.start()
    files = {"big": b"#" * (settings.STACK_MAX_BYTES + 1), "binary": b"\xff\xfe\x00"}
    if "file" in body:
        body = {"file": _upload(files[body["file"]])}
    response = post_stack(client, session_id, body)
    assert response.status_code == status, response.content
    assert response.json()["error"] == code
    assert queued == []
    assert api.get(session_id)["stack_state"] == ""


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("multipart/form-data", b"--x\r\n"),
        ("application/yaml", b"\xe9t\xe9"),
        ("multipart/form-data; boundary=x", b"x"),
    ],
)
def test_a_malformed_body_is_refused_as_json(
    live: Playground, api: Api, client: Client, queued: list[Any], content_type: str, body: bytes
) -> None:
    response = post_stack(client, api.start(), body, content_type=content_type)
    assert response.status_code == 400
    assert response.json()["error"] == "bad_request"
    assert queued == []


def test_a_stack_file_too_large_fails_the_deploy_before_any_instance_starts(
    live: Playground, api: Api, files: str, client: Client, queued: list[Any]
) -> None:
    session_id = api.start(stack=f"http://{files}/big.yml")
    stacks.deploy(session_id)
    session = Session.objects.get(pk=session_id)
    assert session.stack_state == StackState.FAILED
    assert f"is larger than {settings.STACK_MAX_BYTES} bytes" in session.stack_output
    assert not session.instances.exists()


def test_a_refused_instance_is_reported_as_the_deploy_failing(live: Playground, api: Api) -> None:
    live.max_instances = 0
    live.save()
    session = deploy(api.start())
    assert session.stack_state == StackState.FAILED
    assert "Error: a session may have at most 0 instances" in session.stack_output


@pytest.mark.parametrize(
    ("script", "compose"),
    [
        ("sleep 1001", COMPOSE),
        ("sleep 1001", "#" * 200_000),  # more than a pipe holds: the write itself waits
        ("while :; do echo tick; sleep 0.1; done & sleep 1001", COMPOSE),  # never quiet for long
    ],
    ids=["silent", "not-reading", "trickling"],
)
def test_a_docker_that_never_ends_is_cut_at_the_deadline_and_killed(
    live: Playground, api: Api, settings: Any, script: str, compose: str
) -> None:
    settings.STACK_DEPLOY_TIMEOUT = 3
    node = api.add(api.start())
    fake_docker(node, script)
    session = deploy(node["session_id"], compose)
    assert session.stack_state == StackState.FAILED
    assert "did not finish within 3 seconds" in session.stack_output
    assert sh(node, "pgrep -f 'sleep 100[1]' || echo gone")[1].strip() == "gone"


def test_a_docker_that_floods_is_cut_at_the_output_cap(live: Playground, api: Api, settings: Any) -> None:
    settings.STACK_OUTPUT_LIMIT = 100_000
    node = api.add(api.start())
    fake_docker(node, "yes flood")
    session = deploy(node["session_id"])
    assert session.stack_state == StackState.FAILED
    assert "printed more than 100000 bytes" in session.stack_output
    assert len(session.stack_output) <= stacks.KEPT_CHARS
    assert sh(node, "pgrep -x yes || echo gone")[1].strip() == "gone"


def test_what_docker_prints_is_kept_as_plain_text(live: Playground, api: Api) -> None:
    node = api.add(api.start())
    fake_docker(node, r"cat >/dev/null; printf '\033[31mred\033[0m \001\377\r\n'")
    session = deploy(node["session_id"])
    assert session.stack_state == StackState.READY, session.stack_output
    assert "red \ufffd\n" in session.stack_output
    assert not any(c in session.stack_output for c in "\x1b\x01\r")


def test_a_yaml_bomb_fails_within_the_deadline(live: Playground, api: Api, settings: Any) -> None:
    settings.STACK_DEPLOY_TIMEOUT = 8
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [{','.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    node = api.add(api.start())
    started = time.monotonic()
    session = deploy(node["session_id"], "\n".join(["x-bomb:", *(f"  {line}" for line in lines), "services: {}"]))
    assert time.monotonic() - started < 15
    assert session.stack_state == StackState.FAILED, session.stack_output
    assert sh(node, "pgrep -f 'compose -[-]ansi' || echo gone")[1].strip() == "gone"


def test_a_failing_compose_fails_the_deploy(live: Playground, api: Api) -> None:
    node = api.add(api.start())
    session = deploy(node["session_id"], "services: [not, a, mapping]\n")
    assert session.stack_state == StackState.FAILED
    assert "services must be a mapping" in session.stack_output
    assert re.search(r"Error: docker compose exited with [1-9][0-9]*\n", session.stack_output)


def _upload(data: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile("stack.yml", data, content_type="application/yaml")


def test_a_deploy_whose_worker_died_is_failed_by_the_sweep(playground: Playground, settings: Any) -> None:
    now = timezone.now()
    session = Session.objects.create(playground=playground, expires_at=now + timedelta(hours=1))
    assert session.claim_stack("demo") and session.begin_stack()
    session.record_stack("pulling…\n")
    stacks.fail_stalled()
    assert Session.objects.get(pk=session.pk).stack_state == StackState.DEPLOYING

    Session.objects.filter(pk=session.pk).update(stack_started_at=now - timedelta(seconds=settings.STACK_DEPLOY_LEASE))
    stacks.fail_stalled()
    session.refresh_from_db()
    assert session.stack_state == StackState.FAILED
    assert session.stack_output.startswith("pulling…\nError: the deploy was interrupted")
    assert session.claim_stack("again")
