"""The host's packet filter for sandboxes: a session reaches its own nodes, the mirror and the internet, nothing else.

The sandbox engine runs with `iptables: false` (two engines managing the same chains fight), so these rules are
the platform's own. They match every session bridge by its name prefix, so nothing is added or removed per
session: a session's rules go with its bridge.
"""

from __future__ import annotations

import contextlib
import ipaddress
import subprocess
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings

from engine.names import BRIDGE_PREFIX

FORWARD = "PLAYGROUND-FORWARD"
INPUT = "PLAYGROUND-INPUT"
MIRROR = "PLAYGROUND-MIRROR"
BRIDGES = f"{BRIDGE_PREFIX}+"
# Never reachable from a sandbox through the host: private networks (the host's own, other engines' bridges, a
# cloud's metadata address and its VPC), loopback, carrier-grade NAT, multicast.
CLOSED = [
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "224.0.0.0/3",
]


ANTI_SPOOFING = ["-i", BRIDGES, "-m", "rpfilter", "--invert", "-j", "DROP"]


class FirewallError(Exception):
    """The host's packet filter refused a rule."""


def forward_rules(egress: bool, nameservers: list[str]) -> list[list[str]]:
    """Return the rules for traffic routed through the host from or to a session's bridge."""
    # Without egress, what leaves for the internet is refused rather than dropped: a lookup or a connection fails
    # at once ("No route to host"), where a dropped one would hang through its resolver's or TCP's retries
    # (`docker pull` waited 10 s on a name before saying the playground has no internet access).
    closed = ["REJECT", "--reject-with", "icmp-admin-prohibited"]
    # The engine's DNS forwards a sandbox's lookups from the sandbox itself, to the host's resolvers (often a
    # private address in a cloud).
    dns = [
        ["-i", BRIDGES, "-d", server, "-p", proto, "--dport", "53", "-j", *(["ACCEPT"] if egress else closed)]
        for server in nameservers
        for proto in ("udp", "tcp")
    ]
    rules = [
        ["-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"],
        # Between the nodes of one session: frames bridged on its own network (swarm, overlay, ping).
        ["-m", "physdev", "--physdev-is-bridged", "-j", "ACCEPT"],
        # Routed into a session from anywhere else (another session included): never.
        ["-o", BRIDGES, "-j", "DROP"],
    ]
    rules += dns
    rules += [["-i", BRIDGES, "-d", net, "-j", "DROP"] for net in CLOSED]
    rules.append(["-i", BRIDGES, "-j", *(["ACCEPT"] if egress else closed)])
    return rules


def fill_forward(egress: bool) -> None:
    """Fill the chain of what is routed from or to sessions' bridges (again), with or without egress."""
    _chain("iptables", "filter", FORWARD, forward_rules(egress, nameservers()))


def input_rules() -> list[list[str]]:
    """Return the rules for what a sandbox sends to the host itself: the mirror's ports, and answers."""
    return [
        ["-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"],
        ["-j", MIRROR],
        ["-j", "DROP"],
    ]


def mirror_rule(mirror_host: str, port: int) -> list[str]:
    return ["-d", mirror_host, "-p", "tcp", "--dport", str(port), "-j", "ACCEPT"]


@contextlib.contextmanager
def port_opened(mirror_host: str, port: int) -> Iterator[None]:
    """Let sandboxes reach one more port of the mirror's address for a while (a test's own mirror, say)."""
    _run("iptables", "-A", MIRROR, *mirror_rule(mirror_host, port))
    try:
        yield
    finally:
        _run("iptables", "-D", MIRROR, *mirror_rule(mirror_host, port), check=False)


def nameservers(paths: tuple[str, ...] = ("/run/systemd/resolve/resolv.conf", "/etc/resolv.conf")) -> list[str]:
    """Return the host's IPv4 resolvers, as the engine hands them to sandboxes (never loopback ones)."""
    for path in paths:
        try:
            with open(path) as f:
                lines = f.read().splitlines()
        except OSError:
            continue
        found = []
        for line in lines:
            fields = line.split()
            if len(fields) >= 2 and fields[0] == "nameserver":
                try:
                    address = ipaddress.ip_address(fields[1])
                except ValueError:
                    continue
                if address.version == 4 and not address.is_loopback:
                    found.append(str(address))
        if found:
            return found
    return []


def nat_rule(pool: str) -> list[str]:
    return ["-s", pool, "!", "-o", BRIDGES, "-j", "MASQUERADE"]


def apply(mirror_host: str) -> None:
    """Install the rules (again): flush the platform's chains, refill them, and make sure they are jumped to."""
    pool = str(ipaddress.ip_network(settings.SANDBOX_SUBNET_POOL))
    ports = [settings.MIRROR_PORT, settings.MIRROR_OFFLINE_PORT]
    _chain("iptables", "filter", MIRROR, [mirror_rule(mirror_host, port) for port in ports])
    for binary in ("iptables", "ip6tables"):
        ipv4 = binary == "iptables"
        if ipv4:
            fill_forward(settings.SANDBOX_EGRESS)
        else:
            _chain(binary, "filter", FORWARD, [])
        _chain(binary, "filter", INPUT, input_rules() if ipv4 else [])
        if binary == "ip6tables":
            # Sandbox networks are IPv4 only: nothing of theirs crosses the host over IPv6.
            _run(binary, "-t", "filter", "-A", FORWARD, "-j", "DROP")
            _run(binary, "-t", "filter", "-A", INPUT, "-j", "DROP")
        # Docker keeps DOCKER-USER first in FORWARD whenever it restarts, above any jump of ours: jumped to from
        # there as well, the platform's rules come before another engine's (its published ports, say).
        _run(binary, "-N", "DOCKER-USER", check=False)
        for parent in ("DOCKER-USER", "FORWARD"):
            _jump(binary, parent, ["-i", BRIDGES], FORWARD)
            _jump(binary, parent, ["-o", BRIDGES], FORWARD)
        _jump(binary, "INPUT", ["-i", BRIDGES], INPUT)
    # A sandbox's packets must carry its own address: a forged source would leave unmasqueraded (reflection
    # attacks), or take over another session's connections (its answers then count as established).
    if _run("iptables", "-t", "raw", "-C", "PREROUTING", *ANTI_SPOOFING, check=False) != 0:
        _run("iptables", "-t", "raw", "-I", "PREROUTING", "1", *ANTI_SPOOFING)
    rule = nat_rule(pool)
    if _run("iptables", "-t", "nat", "-C", "POSTROUTING", *rule, check=False) != 0:
        if settings.SANDBOX_EGRESS:
            _run("iptables", "-t", "nat", "-A", "POSTROUTING", *rule)
    elif not settings.SANDBOX_EGRESS:
        _run("iptables", "-t", "nat", "-D", "POSTROUTING", *rule)
    # The engine runs with iptables off, but routing between its bridges and the host's uplink is still needed.
    # A host that did not route before must not start routing for everyone: as Docker does, forwarding is then
    # dropped unless a rule (ours) accepts it.
    forwarding = Path("/proc/sys/net/ipv4/ip_forward")
    if forwarding.read_text().strip() != "1":
        _run("iptables", "-P", "FORWARD", "DROP")
        forwarding.write_text("1")


def check() -> None:
    """Raise FirewallError unless the platform's rules are in place (a reboot or a flush removes them)."""
    for binary in ("iptables", "ip6tables"):
        if _run(binary, "-C", "FORWARD", "-i", BRIDGES, "-j", FORWARD, check=False) != 0:
            raise FirewallError("the sandboxes' firewall rules are missing: run `manage.py prepare_host` (bin/setup)")


def _chain(binary: str, table: str, chain: str, rules: list[list[str]]) -> None:
    if _run(binary, "-t", table, "-N", chain, check=False) != 0:
        _run(binary, "-t", table, "-F", chain)
    for rule in rules:
        _run(binary, "-t", table, "-A", chain, *rule)


def _jump(binary: str, parent: str, match: list[str], chain: str) -> None:
    # First in the parent chain: another engine's rules (Docker's FORWARD policy DROP, say) come after ours.
    if _run(binary, "-C", parent, *match, "-j", chain, check=False) != 0:
        _run(binary, "-I", parent, "1", *match, "-j", chain)


def _run(*command: str, check: bool = True) -> int:
    done = subprocess.run([command[0], "-w", *command[1:]], capture_output=True, text=True)
    if check and done.returncode != 0:
        raise FirewallError(f"{' '.join(command)}: {done.stderr.strip()}")
    return done.returncode
