"""Two nodes of one session reach each other, form a swarm, and run containers; other sessions are out of reach."""

from django.test import Client

from sessions.models import Playground
from tests.conftest import Api, sh

# An image built from a Debian package inside the sandbox itself: busybox-static, imported with docker import.
BUILD_BUSYBOX = "mkdir -p /tmp/bb && cp /bin/busybox /tmp/bb/ && tar -C /tmp/bb -c . | docker import - local/busybox"


def test_nodes_reach_each_other_and_form_a_swarm(live: Playground, api: Api) -> None:
    session_id = api.start()
    node1, node2 = api.add(session_id), api.add(session_id)
    assert sh(node1, f"ping -c1 -W2 {node2['ip']}")[0] == 0

    code, output = sh(node1, f"docker swarm init --advertise-addr {node1['ip']}")
    assert code == 0, output
    _, token = sh(node1, "docker swarm join-token -q worker")
    code, output = sh(node2, f"docker swarm join --token {token.strip()} {node1['ip']}:2377")
    assert code == 0, output
    code, nodes = sh(node1, "docker node ls --format '{{.Hostname}} {{.Status}}'")
    assert sorted(nodes.split("\n")[:2]) == ["node1 Ready", "node2 Ready"]


def test_the_inner_engine_runs_a_container(live: Playground, api: Api) -> None:
    node = api.add(api.start())
    code, output = sh(node, f"{BUILD_BUSYBOX} >/dev/null && docker run --rm local/busybox /busybox echo hello-inside")
    assert (code, output) == (0, "hello-inside\n")


def test_sessions_cannot_reach_each_other(live: Playground, api: Api, client: Client) -> None:
    mine = api.add(api.start())
    theirs = api.add(api.start())
    assert sh(mine, f"ping -c1 -W1 {theirs['ip']}")[0] != 0
    assert sh(mine, f"curl -s -m 2 http://{theirs['ip']}:2375")[0] != 0
