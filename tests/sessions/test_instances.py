import base64
import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from engine import daemon, sandboxes, tls
from engine.daemon import default
from sessions.models import Instance, Playground
from tests.conftest import Api, sh


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_it_returns_an_instance_whose_inner_engine_works(live: Playground, api: Api) -> None:
    session_id = api.start()
    instance = api.add(session_id, {"Hostname": "node1", "ImageName": "", "Envs": [], "Networks": []})
    assert instance["hostname"] == "node1"
    assert instance["session_id"] == session_id
    assert instance["proxy_host"] == f"ip{instance['ip'].replace('.', '-')}-{session_id}"
    code, output = sh(instance, "docker info --format '{{.ServerVersion}}'")
    assert code == 0, output


def test_it_numbers_hosts_with_the_first_free_number(live: Playground, api: Api, client: Client) -> None:
    session_id = api.start()
    first = api.add(session_id)
    api.add(session_id)
    client.delete(f"/sessions/{session_id}/instances/{first['name']}")
    assert api.add(session_id)["hostname"] == "node1"


def test_it_limits_cpu_memory_and_pids(live: Playground, api: Api) -> None:
    instance = api.add(api.start())
    attrs = daemon.default().client().api.inspect_container(instance["name"])["HostConfig"]
    assert attrs["Memory"] == live.memory_limit_mb * 2**20
    assert attrs["NanoCpus"] == int(live.cpu_limit * 1e9)
    assert attrs["PidsLimit"] == live.pids_limit


def test_it_labels_every_object_with_session_and_instance(live: Playground, api: Api) -> None:
    session_id = api.start()
    instance = api.add(session_id)
    objects = sandboxes.labelled_objects(default(), session_id)
    assert len(objects["containers"]) == len(objects["volumes"]) == len(objects["networks"]) == 1
    labels = daemon.default().client().api.inspect_container(instance["name"])["Config"]["Labels"]
    assert labels[daemon.LABEL_SESSION] == session_id
    assert labels[daemon.LABEL_INSTANCE] == instance["name"]


def test_it_passes_environment_variables(live: Playground, api: Api) -> None:
    instance = api.add(api.start(), {"envs": ["GREETING=hello there"]})
    assert sh(instance, 'echo "$GREETING"') == (0, "hello there\n")


def test_it_refuses_a_sixth_instance(live: Playground, api: Api) -> None:
    session_id = api.start()
    for _ in range(5):
        api.add(session_id)
    body = api.add(session_id, status=409)
    assert body["error"] == "max_instances"
    assert "at most 5" in body["message"]
    assert len(sandboxes.labelled_objects(default(), session_id)["containers"]) == 5


def test_it_refuses_a_hostname_in_use(live: Playground, api: Api) -> None:
    session_id = api.start()
    api.add(session_id, {"hostname": "manager"})
    assert api.add(session_id, {"hostname": "manager"}, status=409)["error"] == "hostname_taken"


def test_it_answers_503_past_the_per_host_cap(live: Playground, api: Api, settings: object) -> None:
    session_id = api.start()
    api.add(session_id)
    settings.MAX_INSTANCES_PER_HOST = 1  # type: ignore[attr-defined]
    assert api.add(session_id, status=503)["error"] == "out_of_capacity"
    assert len(sandboxes.labelled_objects(default(), session_id)["containers"]) == 1


@pytest.mark.parametrize(
    "body",
    ["{garbage", "[]", json.dumps({"ImageName": 3}), json.dumps({"Envs": "x"}), json.dumps({"Hostname": "a b"})],
)
def test_it_answers_400_to_malformed_bodies(live: Playground, api: Api, body: str) -> None:
    session_id = api.start()
    response = api.add(session_id, body, status=400)
    assert response["error"] == "bad_request"
    assert response["message"]
    assert sandboxes.labelled_objects(default(), session_id)["containers"] == []


def test_it_refuses_images_the_playground_does_not_offer(live: Playground, api: Api) -> None:
    assert api.add(api.start(), {"ImageName": "evil/miner"}, status=400)["error"] == "bad_request"


def test_it_leaves_nothing_behind_when_the_engine_never_answers(live: Playground, api: Api, settings: object) -> None:
    settings.SANDBOX_READY_TIMEOUT = 0  # type: ignore[attr-defined]
    session_id = api.start()
    body = api.add(session_id, status=503)
    assert "did not answer" in body["message"]
    assert sandboxes.labelled_objects(default(), session_id)["containers"] == []
    assert sandboxes.labelled_objects(default(), session_id)["volumes"] == []
    assert not Instance.objects.filter(session_id=session_id).exists()


def test_it_deletes_an_instance_with_its_storage(live: Playground, api: Api, client: Client) -> None:
    session_id = api.start()
    instance = api.add(session_id)
    response = client.delete(f"/sessions/{session_id}/instances/{instance['name']}")
    assert response.status_code == 200
    assert sandboxes.labelled_objects(default(), session_id) | {"networks": []} == {
        "containers": [],
        "volumes": [],
        "networks": [],
    }
    assert api.get(session_id)["instances"] == {}


def test_it_answers_404_for_unknown_instances(live: Playground, api: Api, client: Client) -> None:
    response = client.delete(f"/sessions/{api.start()}/instances/nosuchinstance")
    assert response.status_code == 404


def test_it_never_returns_key_material(live: Playground, api: Api, client: Client) -> None:
    session_id = api.start()
    issued = tls.issue("m1", timezone.now() + timedelta(hours=1))
    key = issued.engine.server_key
    body = {
        "Alias": "m1",
        "ServerCert": b64(issued.engine.server_cert),
        "ServerKey": b64(key),
        "CACert": b64(issued.engine.ca_cert),
    }
    created = api.add(session_id, body)
    responses = [
        json.dumps(created),
        client.get(f"/sessions/{session_id}").content.decode(),
        client.get(f"/p/{session_id}").content.decode(),
        client.delete(f"/sessions/{session_id}").content.decode(),
    ]
    for text in responses:
        assert "PRIVATE KEY" not in text
        assert key.splitlines()[1] not in text
        assert "BEGIN CERTIFICATE" not in text
    assert created["tls"] is True
    assert created["alias"] == "m1"
