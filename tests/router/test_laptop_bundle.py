"""Connect from your laptop: the bundle issued for an instance opens its engine, and only that engine."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from pytest_django.fixtures import Settings

from sessions.models import Playground
from tests.conftest import Api
from tests.router.conftest import run_resolving
from tests.router.test_docker_machine import driver_body, make_machine_certs


@pytest.fixture
def public_port(settings: Settings, router_port: int) -> int:
    settings.ROUTER_PUBLIC_PORT = router_port
    return router_port


def connection(client: Client, instance: dict[str, Any]) -> dict[str, str]:
    response = client.get(f"/sessions/{instance['session_id']}/instances/{instance['name']}/docker")
    assert response.status_code == 200, response.content
    return dict(response.json())


def download(client: Client, instance: dict[str, Any]) -> bytes:
    response = client.get(f"/sessions/{instance['session_id']}/instances/{instance['name']}/docker.zip")
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/zip"
    return bytes(response.content)


def extract(bundle: bytes, folder: Path) -> None:
    zipfile.ZipFile(io.BytesIO(bundle)).extractall(folder)


def docker_host_name(docker_host: str) -> str:
    return docker_host.removeprefix("tcp://").rpartition(":")[0]


def test_the_environment_lines_open_the_instances_engine(
    live: Playground, api: Api, client: Client, public_port: int, tmp_path: Path
) -> None:
    instance = api.add(api.start())
    lines = connection(client, instance)
    extract(download(client, instance), tmp_path / "certs")
    env = {"DOCKER_HOST": lines["docker_host"], "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(tmp_path / "certs")}

    result = run_resolving(
        [docker_host_name(lines["docker_host"])], ["docker", "info", "-f", "{{.Name}}"], tmp_path, **env
    )
    assert (result.returncode, result.stdout) == (0, "node1\n"), result.stderr
    assert lines["env"].splitlines() == [
        f"export DOCKER_HOST={lines['docker_host']}",
        "export DOCKER_TLS_VERIFY=1",
        f"export DOCKER_CERT_PATH={lines['cert_path']}",
    ]


def test_the_context_line_opens_the_instances_engine(
    live: Playground, api: Api, client: Client, public_port: int, tmp_path: Path
) -> None:
    instance = api.add(api.start())
    lines = connection(client, instance)
    context = lines["context"].split()[3]
    (tmp_path / f"{context}.zip").write_bytes(download(client, instance))
    # Run the lines as a learner pastes them into a shell, in the downloads folder (HOME is the test's folder).
    script = f"cd {tmp_path} && {lines['unzip']} >/dev/null && {lines['context']} >/dev/null"
    script += f" && docker --context {context} ps --format x && echo reached"
    result = run_resolving([docker_host_name(lines["docker_host"])], ["sh", "-c", script], tmp_path)
    assert (result.returncode, result.stdout) == (0, "reached\n"), result.stderr


def test_a_bundle_opens_no_other_instances_engine(
    live: Playground, api: Api, client: Client, public_port: int, tmp_path: Path
) -> None:
    session_id = api.start()
    mine, other = api.add(session_id), api.add(session_id)
    extract(download(client, mine), tmp_path / "mine")
    other_host = connection(client, other)["docker_host"]
    env = {"DOCKER_HOST": other_host, "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(tmp_path / "mine")}

    result = run_resolving([docker_host_name(other_host)], ["docker", "ps"], tmp_path, **env)
    assert result.returncode != 0
    assert "certificate" in result.stderr, result.stderr


def test_no_json_carries_the_client_key(live: Playground, api: Api, client: Client, public_port: int) -> None:
    instance = api.add(api.start())
    texts = [
        client.get(f"/sessions/{instance['session_id']}").content,
        connection(client, instance)["env"].encode(),
        client.get(f"/p/{instance['session_id']}").content,
    ]
    assert all(b"PRIVATE KEY" not in text for text in texts)


def test_instances_of_docker_machine_have_no_bundle(live: Playground, api: Api, client: Client, tmp_path: Path) -> None:
    session_id = api.start()
    make_machine_certs(tmp_path, f"pwdmachine1-{session_id[:8]}-2375.localhost")
    instance = api.add(session_id, driver_body(tmp_path, "machine1"))
    response = client.get(f"/sessions/{session_id}/instances/{instance['name']}/docker.zip")
    assert response.status_code == 404
    assert "docker-machine env" in response.json()["message"]
