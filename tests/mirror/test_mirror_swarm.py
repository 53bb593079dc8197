"""A two-node swarm runs an nginx service from the mirror, reachable on both nodes.

Swarm's routing mesh (ingress publishing) needs the host kernel's IPVS; where the kernel lacks it (these VMs:
CONFIG_IP_VS unset, and the inner dockerd logs "Could not get ipvs family information from the kernel"), an
ingress-published port answers on no node. So the service publishes in host mode, one task per node.
"""

from sessions.models import Playground
from tests.conftest import Api, fetch, sh

SERVICE = "docker service create --quiet --detach=false --name web --mode global " + (
    "--publish mode=host,published=8080,target=80 nginx"
)


def test_it_runs_an_nginx_service_reachable_on_both_nodes(live: Playground, api: Api, mirror: str) -> None:
    session_id = api.start()
    node1, node2 = api.add(session_id), api.add(session_id)
    assert sh(node1, f"docker swarm init --advertise-addr {node1['ip']}")[0] == 0
    _, token = sh(node1, "docker swarm join-token -q worker")
    assert sh(node2, f"docker swarm join --token {token.strip()} {node1['ip']}:2377")[0] == 0

    code, output = sh(node1, SERVICE)
    assert code == 0, output
    for node in (node1, node2):
        assert "Welcome to nginx!" in fetch(node1, f"http://{node['ip']}:8080")
