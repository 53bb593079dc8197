"""PWD's POST /sessions/{id}/setup: a trainer's template becomes running instances, a swarm, and commands run."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client

import engine
from engine import sandboxes
from engine.daemon import Daemon, default
from sessions import lifecycle
from sessions.models import Instance, Playground
from tests.conftest import Api, sh

MANAGER = {"is_swarm_manager": True, "is_swarm_worker": False, "type": "linux", "run": []}
WORKER = {"is_swarm_manager": False, "is_swarm_worker": True, "type": "linux", "run": []}


def setup(client: Client, session_id: str, instances: Any, status: int = 200) -> dict[str, Any]:
    body = json.dumps({"instances": instances})
    response = client.post(f"/sessions/{session_id}/setup", body, content_type="application/json")
    assert response.status_code == status, response.content
    return dict(response.json())


def nodes_ready(instance: dict[str, Any]) -> list[str]:
    """Return `docker node ls` as "<hostname> <status> <manager status>" lines, from the instance."""
    code, output = sh(instance, "docker node ls --format '{{.Hostname}} {{.Status}} {{.ManagerStatus}}'")
    assert code == 0, output
    return sorted(line.strip() for line in output.splitlines())


def test_it_sets_up_three_managers_and_two_workers(live: Playground, api: Api, client: Client) -> None:
    session_id = api.start()
    template = [
        {"hostname": "manager1", **MANAGER},
        {"hostname": "manager2", **MANAGER},
        {"hostname": "manager3", **MANAGER},
        {"hostname": "worker1", **WORKER},
        {"hostname": "worker2", **WORKER},
    ]
    report = setup(client, session_id, template)["instances"]
    assert [i["hostname"] for i in report] == ["manager1", "manager2", "manager3", "worker1", "worker2"]
    assert all(i["state"] == "running" and i["ip"] for i in report)
    assert nodes_ready(report[0]) == [
        "manager1 Ready Leader",
        "manager2 Ready Reachable",
        "manager3 Ready Reachable",
        "worker1 Ready",
        "worker2 Ready",
    ]
    assert "docker swarm init" in report[0]["swarm"][0]["command"][-1]
    assert all(i["swarm"][0]["status_code"] == 0 for i in report)


def test_it_runs_every_command_in_order_and_reports_each(live: Playground, api: Api, client: Client) -> None:
    session_id = api.start()
    run = [["sh", "-c", f"echo mark{n} >> /root/marks; echo wrote {n}"] for n in (1, 2, 3)]
    report = setup(client, session_id, [{"hostname": "node1", "run": run}])["instances"][0]
    assert sh(report, "cat /root/marks") == (0, "mark1\nmark2\nmark3\n")
    assert report["commands"] == [
        {"command": command, "status_code": 0, "output": f"wrote {n}\n"} for n, command in enumerate(run, 1)
    ]
    assert report["swarm"] == []


def test_it_names_nodes_without_a_hostname_in_order(live: Playground, api: Api, client: Client) -> None:
    report = setup(client, api.start(), [{}, {"hostname": "node1"}, {}])["instances"]
    assert [i["hostname"] for i in report] == ["node2", "node1", "node3"]


def test_a_failing_command_names_its_instance_and_stops_there(live: Playground, api: Api, client: Client) -> None:
    session_id = api.start()
    template = [
        {"hostname": "node1", "run": [["true"]]},
        {"hostname": "node2", "run": [["echo", "first"], ["sh", "-c", "echo broken >&2; exit 3"], ["touch", "/x"]]},
    ]
    answer = setup(client, session_id, template, status=422)
    assert answer["error"] == "setup_failed"
    assert answer["message"].startswith("node2: command 2 of 3, `sh -c 'echo broken >&2; exit 3'` exited with 3")
    assert "the instances stay" in answer["message"]
    node2 = answer["instances"][1]
    assert node2["commands"][-1] == {"command": template[1]["run"][1], "status_code": 3, "output": "broken\n"}
    assert len(node2["commands"]) == 2
    assert sh(node2, "test -e /x")[0] == 1, "the command after the failing one did not run"
    assert len(api.get(session_id)["instances"]) == 2


def test_it_refuses_a_session_that_has_instances(live: Playground, api: Api, client: Client) -> None:
    session_id = api.start()
    api.add(session_id)
    answer = setup(client, session_id, [{"hostname": "other"}], status=409)
    assert answer["error"] == "session_not_empty"


def test_it_refuses_a_second_setup_while_one_runs(live: Playground, api: Api, client: Client) -> None:
    session_id = api.start()
    cache.add(f"setup:{session_id}", True, timeout=60)  # as a setup running in another web process holds it
    try:
        answer = setup(client, session_id, [{"hostname": "other"}], status=409)
    finally:
        cache.delete(f"setup:{session_id}")
    assert answer["error"] == "setup_running"
    assert api.get(session_id)["instances"] == {}


def test_it_refuses_more_instances_than_a_session_holds_before_starting_any(
    live: Playground, api: Api, client: Client
) -> None:
    session_id = api.start()
    answer = setup(client, session_id, [{}] * (live.max_instances + 1), status=409)
    assert answer["error"] == "max_instances"
    assert not Instance.objects.filter(session_id=session_id).exists()


@pytest.mark.parametrize(
    ("instances", "says"),
    [
        ([], "instances must be a non-empty list"),
        ([{"hostname": "a"}, {"hostname": "A"}], "same hostname"),
        ([{"hostname": "bad name"}], "not a valid host name"),
        ([WORKER], "need a swarm manager"),
        ([{**MANAGER, "is_swarm_worker": True}], "both a swarm manager and a swarm worker"),
        ([{"run": "docker ps"}], "run must be a list"),
        ([{"run": [[]]}], "run[0] must be a non-empty list of strings"),
        ([{"run": [["sh", 1]]}], "run[0] must be a non-empty list of strings"),
        ([{"run": [["true"]] * 21}], "more than 20 commands"),
        ([{"type": "windows"}], "only linux"),
        ([{"image": "evil/miner"}], "is not offered here"),
    ],
)
def test_it_refuses_malformed_templates(live: Playground, api: Api, client: Client, instances: Any, says: str) -> None:
    session_id = api.start()
    answer = setup(client, session_id, instances, status=400)
    assert says in answer["message"]
    assert not Instance.objects.filter(session_id=session_id).exists()


def test_a_node_that_cannot_start_is_named_and_the_others_are_removed(
    live: Playground, api: Api, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    wait_ready = sandboxes.wait_ready

    def node3_never_ready(daemon: Daemon, name: str, timeout: float) -> None:
        if "-node3-" in name:
            raise engine.NotReady("its inner engine did not answer")
        wait_ready(daemon, name, timeout)

    monkeypatch.setattr(sandboxes, "wait_ready", node3_never_ready)
    session_id = api.start()
    answer = setup(client, session_id, [{}, {}, {}], status=503)
    assert answer["message"].startswith("node3 could not start: its inner engine did not answer")
    assert "setup removed the instances it had made" in answer["message"]
    assert not Instance.objects.live().filter(session_id=session_id).exists()
    assert sandboxes.labelled_objects(default(), session_id)["containers"] == []


def test_a_command_that_never_ends_is_stopped_at_the_setup_deadline(
    live: Playground, api: Api, client: Client, settings: Any
) -> None:
    settings.SETUP_TIMEOUT = 3
    run = [["sh", "-c", "echo started >> /root/marks; sleep 600"], ["touch", "/root/never"]]
    answer = setup(client, api.start(), [{"hostname": "node1", "run": run}], status=422)
    assert "was stopped: it did not finish in time" in answer["message"]
    node1 = answer["instances"][0]
    assert node1["commands"] == [{"command": run[0], "status_code": None, "output": ""}]
    assert sh(node1, "pgrep -fx 'sleep 600'")[0] == 1, "the stopped command's process is gone"


def test_a_flood_of_output_is_stopped_and_long_output_reported_capped(
    live: Playground, api: Api, client: Client
) -> None:
    run = [["sh", "-c", "head -c 100000 /dev/zero | tr '\\0' a; echo END"], ["sh", "-c", "yes"]]
    answer = setup(client, api.start(), [{"hostname": "node1", "run": run}], status=422)
    long, flood = answer["instances"][0]["commands"]
    assert long["status_code"] == 0 and len(long["output"]) == 16 * 1024 and long["output"].endswith("aEND\n")
    assert flood["status_code"] is None
    assert "printed more than 262144 bytes" in answer["message"]


def test_two_setups_racing_on_one_session_leave_no_half_setup(live: Playground, api: Api) -> None:
    session_id = api.start()
    body = json.dumps({"instances": [{}, {}, {}]})

    def post() -> int:
        try:
            url = f"/sessions/{session_id}/setup"
            return int(Client().post(url, body, content_type="application/json").status_code)
        finally:
            connection.close()

    with ThreadPoolExecutor(2) as pool:
        statuses = sorted(pool.map(lambda _: post(), range(2)))
    assert statuses in ([200, 409], [409, 409])
    live_hostnames = sorted(Instance.objects.live().filter(session_id=session_id).values_list("hostname", flat=True))
    assert live_hostnames == (["node1", "node2", "node3"] if statuses[0] == 200 else [])
    assert len(sandboxes.labelled_objects(default(), session_id)["containers"]) == len(live_hostnames)


def test_a_learner_who_swaps_dockers_binary_on_the_leader_gets_a_422_naming_it(
    live: Playground, api: Api, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_instance = lifecycle.add_instance

    def quick_learner(session: Any, request: lifecycle.InstanceRequest) -> Instance:
        """The learner, at the prompt the moment manager1 appears, puts a lying `docker` first on its PATH."""
        instance = add_instance(session, request)
        if instance.hostname == "manager1":
            liar = "printf '#!/bin/sh\\necho \"SWMTKN-1-x; touch /pwned\"\\n' > /usr/local/sbin/docker"
            assert sh(instance, f"{liar}; chmod +x /usr/local/sbin/docker")[0] == 0
        return instance

    monkeypatch.setattr(lifecycle, "add_instance", quick_learner)
    answer = setup(client, api.start(), [{"hostname": "manager1", **MANAGER}, {"hostname": "worker1", **WORKER}], 422)
    assert answer["message"].startswith("manager1 gave no valid join tokens")
    worker = answer["instances"][1]
    assert worker["swarm"] == [], "the worker never ran a join"
    assert sh(worker, "docker info --format '{{.Swarm.LocalNodeState}}'") == (0, "inactive\n")
    assert sh(worker, "test -e /pwned")[0] == 1
