"""PWD's POST /sessions/{id}/instances/{name}/exec: run a command, answer its exit code."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.db import connection
from django.test import Client

from sessions.models import Playground
from tests.conftest import Api, sh
from tests.processes import wait_until


def exec_(client: Client, instance: dict[str, Any], body: Any, status: int = 200) -> dict[str, Any]:
    url = f"/sessions/{instance['session_id']}/instances/{instance['name']}/exec"
    data = body if isinstance(body, str) else json.dumps(body)
    response = client.post(url, data, content_type="application/json")
    assert response.status_code == status, response.content
    return dict(response.json())


def test_it_answers_the_exit_code_of_each_command(live: Playground, api: Api, client: Client) -> None:
    node = api.add(api.start())
    assert exec_(client, node, {"command": ["sh", "-c", "echo ran > /root/exec"]}) == {"status_code": 0}
    assert sh(node, "cat /root/exec") == (0, "ran\n")
    assert exec_(client, node, {"command": ["sh", "-c", "exit 7"]}) == {"status_code": 7}
    assert exec_(client, node, {"Command": ["false"]}) == {"status_code": 1}
    assert exec_(client, node, {"command": ["no-such-program"]})["status_code"] not in (0, None)


def test_it_stops_a_command_past_its_deadline(live: Playground, api: Api, client: Client, settings: Any) -> None:
    settings.EXEC_TIMEOUT = 2
    node = api.add(api.start())
    answer = exec_(client, node, {"command": ["sleep", "600"]}, status=422)
    assert answer["error"] == "command_cut_short"
    assert (
        answer["message"]
        == "in node1, `sleep 600` was stopped: it did not finish in time (a command may take 2 s and print 256 KiB)"
    )
    assert sh(node, "pgrep -fx 'sleep 600'")[0] == 1


def test_it_stops_a_command_that_floods_its_output(live: Playground, api: Api, client: Client) -> None:
    node = api.add(api.start())
    answer = exec_(client, node, {"command": ["yes"]}, status=422)
    assert "printed more than" in answer["message"]


def test_it_refuses_malformed_commands_and_unknown_instances(live: Playground, api: Api, client: Client) -> None:
    node = api.add(api.start())
    malformed: list[Any] = [
        {},
        {"command": "ls"},
        {"command": []},
        {"command": ["ls", 3]},
        {"command": ["a\0b"]},
        "[1]",
    ]
    for body in malformed:
        assert exec_(client, node, body, status=400)["error"] == "bad_request"
    assert exec_(client, node, {"command": ["x"] * 257}, status=400)["message"] == "command has more than 256 arguments"
    missing = {**node, "name": "pg-nosuch"}
    assert exec_(client, missing, {"command": ["true"]}, status=404)["error"] == "not_found"


def test_it_runs_no_command_in_another_sessions_instance(live: Playground, api: Api, client: Client) -> None:
    mine, theirs = api.start(), api.add(api.start())
    answer = exec_(client, {**theirs, "session_id": mine}, {"command": ["touch", "/root/pwned"]}, status=404)
    assert answer["error"] == "not_found"
    assert sh(theirs, "test -e /root/pwned")[0] == 1


def test_it_bounds_the_commands_a_session_runs_at_once(
    live: Playground, api: Api, client: Client, settings: Any
) -> None:
    settings.EXEC_PER_SESSION = 2
    node = api.add(api.start())

    def sleeper(_: int) -> int:
        try:
            return exec_(Client(), node, {"command": ["sleep", "4"]})["status_code"]
        finally:
            connection.close()

    with ThreadPoolExecutor(2) as pool:
        sleeping = pool.map(sleeper, range(2))
        wait_until(lambda: sh(node, "pgrep -cfx 'sleep 4'")[1].strip() == "2", timeout=10)
        answer = exec_(client, node, {"command": ["true"]}, status=429)
        assert answer["message"] == "this session already runs 2 commands; wait for one to end"
        assert list(sleeping) == [0, 0]
    assert exec_(client, node, {"command": ["true"]}) == {"status_code": 0}
