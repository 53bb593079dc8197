"""A session reaches its own nodes, the mirror and the internet: never another session, nor the host's services."""

import socket
import subprocess
import time
from collections.abc import Iterator

import pytest
from django.conf import settings

from sessions import firewall
from sessions.models import Playground
from tests.conftest import Api, sh


def connects(node: dict[str, str], host: str, port: int) -> bool:
    """Tell whether a TCP connection from inside node to host:port succeeds within 3 seconds."""
    return reachable(node, [(host, port)]) == [(host, port)]


def reachable(node: dict[str, str], targets: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """The targets a TCP connection from inside node reaches within 3 seconds, all tried at once."""
    tries = "".join(
        f"(timeout 3 bash -c 'echo > /dev/tcp/{host}/{port}' 2>/dev/null && echo {host} {port}) & "
        for host, port in targets
    )
    code, output = sh(node, tries + "wait")
    assert code == 0, output
    return sorted((host, int(port)) for host, port in (line.split() for line in output.splitlines()))


def serve(node: dict[str, str], port: int) -> None:
    assert sh(node, f"busybox httpd -p {port} -h /tmp")[0] == 0


@pytest.fixture
def host_service() -> Iterator[int]:
    """Listen on every address of the host, as a careless service (a database, a dashboard) would."""
    # The kernel completes handshakes into the backlog: nothing needs to accept them.
    listener = socket.create_server(("0.0.0.0", 0), backlog=64)
    yield listener.getsockname()[1]
    listener.close()


def host_addresses() -> list[str]:
    out = subprocess.run(["ip", "-4", "-o", "addr", "show", "scope", "global"], capture_output=True, text=True)
    return [line.split()[3].split("/")[0] for line in out.stdout.splitlines()]


def test_it_keeps_sessions_apart(live: Playground, api: Api) -> None:
    mine = api.start()
    node1, node2 = api.add(mine), api.add(mine)
    theirs = api.add(api.start())
    serve(theirs, 8080)
    serve(node2, 8080)
    assert connects(node1, node2["ip"], 8080)
    assert not connects(node1, theirs["ip"], 8080)
    assert sh(node1, f"ping -c1 -W2 {theirs['ip']}")[0] != 0


def test_it_keeps_the_hosts_services_out_of_reach(live: Playground, api: Api, host_service: int) -> None:
    node = api.add(api.start())
    gateway = sh(node, "ip route | awk '/default/ {print $3}'")[1].strip()
    assert gateway
    assert reachable(node, [(a, host_service) for a in [gateway, *host_addresses()]] + [("169.254.169.254", 80)]) == []
    # The listener itself answers, so what stopped the sandbox was the firewall.
    socket.create_connection(("127.0.0.1", host_service), timeout=3).close()


def spoofing_drops() -> int:
    out = subprocess.run(
        ["iptables", "-t", "raw", "-L", "PREROUTING", "-v", "-x", "-n"], capture_output=True, text=True
    )
    return sum(int(line.split()[0]) for line in out.stdout.splitlines() if "rpfilter" in line)


def test_it_drops_packets_with_a_forged_source(live: Playground, api: Api) -> None:
    mine, theirs = api.add(api.start()), api.add(api.start())
    before = spoofing_drops()
    for forged in ("203.0.113.5", theirs["ip"]):
        sh(mine, f"ip addr add {forged}/32 dev eth0 && ping -c2 -W1 -I {forged} 192.0.2.99")
    assert spoofing_drops() - before >= 4


@pytest.fixture
def no_egress() -> Iterator[None]:
    """The sandboxes' firewall as SANDBOX_EGRESS=false makes it, for the test's length."""
    firewall.fill_forward(egress=False)
    try:
        yield
    finally:
        firewall.fill_forward(egress=settings.SANDBOX_EGRESS)


def test_without_egress_the_internet_is_refused_at_once_not_left_hanging(
    live: Playground, api: Api, mirror: str, no_egress: None
) -> None:
    node = api.add(api.start())
    started = time.monotonic()
    code, output = sh(node, "getent hosts deb.debian.org; timeout 5 bash -c 'echo > /dev/tcp/198.51.100.1/80'")
    assert code != 0, output
    assert "No route to host" in output
    assert time.monotonic() - started < 3, "a resolver's or TCP's retries, not a refusal"
    # An image the mirror lacks: refused in words, as with egress.
    code, output = sh(node, "docker pull alpine:3.20")
    assert code != 0
    assert "this playground has no internet access" in output, output
