"""Envs a client passes cannot set what the platform reads inside an instance: they are refused with a 400."""

from __future__ import annotations

import json

import pytest
from django.conf import settings

from engine import sandboxes
from sessions.lifecycle import ReservedEnv
from sessions.models import Playground
from sessions.parsing import instance_request
from tests.conftest import Api


@pytest.mark.parametrize(
    "entry",
    ["DOCKERD_ARGS=--host=tcp://0.0.0.0:2376", "dockerd_args=--debug", "PLAYGROUND_ANYTHING=1", "DOCKER_HOST=tcp://x"],
)
def test_it_refuses_envs_the_platform_reads(entry: str) -> None:
    name = entry.partition("=")[0]
    with pytest.raises(ReservedEnv, match=f"Envs may not set {name}"):
        instance_request(json.dumps({"Envs": ["GREETING=hi", entry]}).encode())


def test_it_keeps_the_learners_own_envs() -> None:
    request = instance_request(b'{"Envs": ["GREETING=hi", "DOCKERDX=1", "MY_DOCKER_HOST=x"]}')
    assert request.env == {"GREETING": "hi", "DOCKERDX": "1", "MY_DOCKER_HOST": "x"}


def test_it_sets_the_platforms_dockerd_args_over_any_that_slipped_through() -> None:
    env = {"DOCKERD_ARGS": "--host=tcp://0.0.0.0:2376", "PLAYGROUND_DISK_MB": "999999"}
    spec = sandboxes.SandboxSpec("n", "node1", "s", "img", 64, 1.0, 64, env=env)
    assert sandboxes.sandbox_environment(spec)["DOCKERD_ARGS"] == ""
    assert sandboxes.sandbox_environment(spec)["PLAYGROUND_DISK_MB"] == str(settings.SANDBOX_DISK_MB)


def test_it_answers_400_with_a_clear_message(live: Playground, api: Api) -> None:
    session_id = api.start()
    error = api.add(session_id, {"Envs": ["DOCKERD_ARGS=--debug"]}, status=400)
    assert error["error"] == "reserved_env"
    assert "DOCKERD_ARGS" in error["message"]
    assert api.get(session_id)["instances"] == {}
