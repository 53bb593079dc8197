"""The compose deployment, end to end: built with compose/build, brought up with Debian's docker-compose on the
sandbox engine, then driven from outside as a learner would (HTTP API, WebSocket terminal, OpenSSH, the router).

Slow (a build, a stack start, a session's expiry) and it binds the deployment's ports: run it on purpose with
COMPOSE_SMOKE=1. It tears the stack down with `docker-compose down -v`.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import json
import os
import re
import secrets
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import pytest
import requests
from websockets.asyncio.client import connect

from engine.daemon import LABEL_DEPLOYMENT, LABEL_SESSION
from tests.terminals.conftest import PROMPT

pytestmark = [
    pytest.mark.skipif(os.environ.get("COMPOSE_SMOKE") != "1", reason="set COMPOSE_SMOKE=1 (slow)"),
    # The first test waits for the build and the stack's start as well.
    pytest.mark.timeout(1800),
]

ROOT = Path(__file__).resolve().parents[2]
ENGINE = "unix:///run/playground/engine.sock"
PROJECT = "pgsmoke"
DEPLOYMENT = "compose-smoke"
# Beside anything a bin/run on this host listens on. The mirror keeps its ports: the host's firewall (bin/setup's
# prepare_host) opens those to sandboxes, and the stack must not rewrite it under other runs (PREPARE_HOST=false).
PORTS = {
    "WEB_PORT": 18000,
    "ROUTER_PORT": 18443,
    "SSH_GATEWAY_PORT": 11022,
    "POSTGRES_PORT": 15433,
    "REDIS_PORT": 16380,
}
MIRROR_PORTS = (5000, 5001)
SERVICES = ("postgres", "redis", "web", "worker", "beat", "router", "ssh", "mirror", "offline-notice")
XHR = {"X-Requested-With": "XMLHttpRequest"}


@dataclass
class Stack:
    url: str
    env_file: Path

    def compose(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        return compose(self.env_file, *args, timeout=timeout)


def compose(env_file: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    command = ["docker-compose", "-p", PROJECT, "--env-file", str(env_file), "-f", "docker-compose.yml", *args]
    environment = {**os.environ, "DOCKER_HOST": ENGINE}
    return subprocess.run(
        command, cwd=ROOT / "compose", env=environment, capture_output=True, text=True, timeout=timeout
    )


def wait_for(what: str, condition: Callable[[], Any], timeout: float, interval: float = 1.0) -> Any:
    """Return condition()'s first truthy answer; fail naming what after timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = condition()
        if answer:
            return answer
        time.sleep(interval)
    raise AssertionError(f"{what} within {timeout:.0f}s")


def port_free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def healthy(stack_env: Path) -> bool:
    """Tell whether every long-running service reports healthy and setup has exited 0."""
    listed = compose(stack_env, "ps").stdout
    rows = {line.split()[0]: line for line in listed.splitlines()[2:] if line.strip()}
    services_ok = all(
        any(name.startswith(f"{PROJECT}_{service}_") and "(healthy)" in row for name, row in rows.items())
        for service in SERVICES
    )
    setup_ok = any(name.startswith(f"{PROJECT}_setup_") and "Exit 0" in row for name, row in rows.items())
    return services_ok and setup_ok


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    busy = [port for port in (*PORTS.values(), *MIRROR_PORTS) if not port_free(port)]
    assert not busy, f"ports {busy} are taken on this host; stop what listens there first"
    subprocess.run([ROOT / "compose" / "build"], check=True, timeout=1800)
    env_file = tmp_path_factory.mktemp("compose") / ".env"
    settings = {
        "POSTGRES_PASSWORD": secrets.token_hex(12),
        "SECRET_KEY": secrets.token_urlsafe(40),
        "PRODUCTION": "true",
        "ALLOWED_HOSTS": "*",
        "PLAYGROUND_DOMAIN": "localhost",
        "SANDBOX_DEPLOYMENT": DEPLOYMENT,
        "PLAYGROUND_ENV_FILE": str(env_file),
        "PREPARE_HOST": "false",
        "MIRROR_SEED": "hello-world",
        # The Debian packages compose/build and bin/setup fetched: seeding hello-world downloads nothing.
        "DEBOOTSTRAP_CACHE": str(ROOT / "var" / "cache" / "debootstrap"),
        "SWEEP_INTERVAL": "2",
        **{name: str(port) for name, port in PORTS.items()},
    }
    env_file.write_text("".join(f"{name}={value}\n" for name, value in settings.items()))
    up = compose(env_file, "up", "-d")
    try:
        assert up.returncode == 0, up.stderr
        wait_for("every service healthy", lambda: healthy(env_file), timeout=300, interval=3)
        yield Stack(f"http://127.0.0.1:{PORTS['WEB_PORT']}", env_file)
    finally:
        print(compose(env_file, "ps").stdout)
        if up.returncode != 0 or not healthy(env_file):
            print(compose(env_file, "logs", "--tail", "40").stdout)
        # Sessions still running go first, through the API, while the stack that owns them is up.
        for session_id in {c.labels[LABEL_SESSION] for c in deployment_containers()}:
            requests.delete(f"http://127.0.0.1:{PORTS['WEB_PORT']}/sessions/{session_id}", timeout=60)
        wait_for("the sessions' sandboxes removed", lambda: not deployment_containers(), timeout=120)
        down = compose(env_file, "down", "-v", "--remove-orphans")
        assert down.returncode == 0, down.stderr
        assert deployment_containers() == []
        left = docker.DockerClient(base_url=ENGINE).containers.list(all=True, filters={"name": f"{PROJECT}_"})
        assert left == [], f"containers left after down -v: {left}"


def deployment_containers() -> list[Any]:
    filters = {"label": f"{LABEL_DEPLOYMENT}={DEPLOYMENT}"}
    return list(docker.DockerClient(base_url=ENGINE).containers.list(all=True, filters=filters))


def start_session(stack: Stack, **form: str) -> str:
    response = requests.post(f"{stack.url}/", data=form, headers=XHR, timeout=30)
    assert response.status_code == 200, response.text
    return str(response.json()["session_id"])


def add_instance(stack: Stack, session_id: str) -> dict[str, Any]:
    response = requests.post(f"{stack.url}/sessions/{session_id}/instances", json={}, timeout=120)
    assert response.status_code == 200, response.text
    return dict(response.json())


def run(stack: Stack, instance: dict[str, Any], script: str) -> int:
    """Run a shell script in the instance through the exec API; return its exit status."""
    path = f"/sessions/{instance['session_id']}/instances/{instance['name']}/exec"
    response = requests.post(f"{stack.url}{path}", json={"command": ["sh", "-c", script]}, timeout=120)
    assert response.status_code == 200, response.text
    return int(response.json()["status_code"])


def read_file(stack: Stack, instance: dict[str, Any], path: str) -> str:
    url = f"{stack.url}/sessions/{instance['session_id']}/instances/{instance['name']}/file"
    response = requests.get(url, params={"path": path}, timeout=30)
    assert response.status_code == 200, response.text
    return base64.b64decode(response.content).decode()


def session_containers(session_id: str) -> list[Any]:
    filters = {"label": [f"{LABEL_SESSION}={session_id}", f"{LABEL_DEPLOYMENT}={DEPLOYMENT}"]}
    return list(docker.DockerClient(base_url=ENGINE).containers.list(all=True, filters=filters))


@pytest.fixture(scope="module")
def node(stack: Stack) -> dict[str, Any]:
    return add_instance(stack, start_session(stack))


def test_an_instance_runs_hello_world(stack: Stack, node: dict[str, Any]) -> None:
    # Pulled from the deployment's own mirror, seeded by the setup service.
    assert run(stack, node, "docker run --rm hello-world > /tmp/hello.txt 2>&1") == 0
    assert "Hello from Docker!" in read_file(stack, node, "/tmp/hello.txt")


def test_the_terminal_echoes_over_the_websocket(stack: Stack, node: dict[str, Any]) -> None:
    async def echo() -> str:
        url = stack.url.replace("http://", "ws://") + f"/sessions/{node['session_id']}/ws/"
        screen = ""
        async with connect(url, origin=stack.url) as ws:  # type: ignore[arg-type]
            async with asyncio.timeout(60):
                # Typed once the shell shows its prompt, as a learner would.
                while PROMPT not in screen:
                    screen += await output(ws)
                await ws.send(json.dumps({"name": "instance terminal in", "args": [node["name"], "echo $((6*7))x\r"]}))
                while "42x" not in screen:
                    screen += await output(ws)
        return screen

    async def output(ws: Any) -> str:
        event = json.loads(await ws.recv())
        if event["name"] == "instance terminal out" and event["args"][0] == node["name"]:
            return str(event["args"][1])
        return ""

    assert "42x" in asyncio.run(echo())


def test_ssh_reaches_the_instance_through_the_gateway(stack: Stack, node: dict[str, Any], tmp_path: Path) -> None:
    user = f"ip{node['ip'].replace('.', '-')}-{node['session_id']}"
    options = ["-o", "StrictHostKeyChecking=no", "-o", f"UserKnownHostsFile={tmp_path / 'known_hosts'}"]
    options += ["-o", "BatchMode=yes", "-o", "IdentityAgent=none", "-o", "ConnectTimeout=20"]
    done = subprocess.run(
        ["ssh", *options, "-p", str(PORTS["SSH_GATEWAY_PORT"]), f"{user}@127.0.0.1", "hostname; docker info -f ok"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"HOME": str(tmp_path), "PATH": os.environ["PATH"]},
    )
    assert (done.returncode, done.stdout.split()) == (0, [node["hostname"], "ok"]), done.stderr


def test_the_router_reaches_a_port_inside_the_instance(stack: Stack, node: dict[str, Any]) -> None:
    serve = "mkdir -p /tmp/www && echo routed-$((6*7)) > /tmp/www/index.html && busybox httpd -p 8080 -h /tmp/www"
    assert run(stack, node, serve) == 0
    host = f"{node['proxy_host']}-8080.direct.localhost"
    port = PORTS["ROUTER_PORT"]
    done = subprocess.run(
        ["curl", "-s", "-m", "20", "--resolve", f"{host}:{port}:127.0.0.1", f"http://{host}:{port}/"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.stdout == "routed-42\n", done.stderr


def test_metrics_count_the_session(stack: Stack, node: dict[str, Any]) -> None:
    # From loopback: METRICS_ALLOWED_IPS' default.
    text = requests.get(f"{stack.url}/metrics", timeout=30).text
    active = re.search(r'^playground_sessions\{state="active"\} (\S+)$', text, re.M)
    running = re.search(r'^playground_instances\{[^}]*state="running"\} (\S+)$', text, re.M)
    assert active and float(active[1]) >= 1, text
    assert running and float(running[1]) >= 1, text


def test_a_short_session_expires_and_its_containers_go(stack: Stack) -> None:
    session_id = start_session(stack, **{"session-duration": "20s"})
    add_instance(stack, session_id)
    assert session_containers(session_id)

    def ended() -> bool:
        state = requests.get(f"{stack.url}/sessions/{session_id}", timeout=30).json()["state"]
        return state == "ended" and not session_containers(session_id)

    wait_for("the session ended by the beat's sweep and its containers removed", ended, timeout=120)


def test_an_instance_cannot_reach_the_stacks_database_or_redis(stack: Stack, node: dict[str, Any]) -> None:
    # A learner is root in the instance: the deployment's PostgreSQL and Redis, on their bridge and on the host's
    # loopback ports, must be out of reach (the sandboxes' firewall closes private networks and the host).
    client = docker.DockerClient(base_url=ENGINE)
    targets = []
    for service, port in (("postgres", 5432), ("redis", 6379)):
        (container,) = client.containers.list(filters={"name": f"{PROJECT}_{service}_"})
        networks = container.attrs["NetworkSettings"]["Networks"]
        targets += [f"{network['IPAddress']}/{port}" for network in networks.values()]
    # The host's address on the session's bridge (the first of its /26): where published loopback ports would leak.
    gateway = ipaddress.ip_network(f"{node['ip']}/26", strict=False)[1]
    targets += [f"{gateway}/{PORTS['POSTGRES_PORT']}", f"{gateway}/{PORTS['REDIS_PORT']}"]
    # The control: the mirror (the pool's last /24, .1) is the one address of the host sandboxes reach.
    assert run(stack, node, "timeout 5 bash -c 'exec 3<>/dev/tcp/10.213.255.1/5000'") == 0
    for target in targets:
        assert run(stack, node, f"timeout 5 bash -c 'exec 3<>/dev/tcp/{target}'") != 0, target
