"""Where sandboxes find the registry mirror, and the inner engine configuration that sends their pulls there.

By default the host holds the mirror's address on a bridge network of its own, on the pool's last /24.
"""

from __future__ import annotations

import ipaddress
import json
import time
from typing import Any

from django.conf import settings
from docker.errors import APIError
from docker.types import IPAMConfig, IPAMPool

from engine import EngineError
from engine.daemon import LABEL_ROLE, Daemon

MIRROR_NETWORK = "playground-mirror"


def mirror_subnet() -> ipaddress.IPv4Network:
    """Return the last /24 of the sandbox pool: the host's own bridge there carries the mirror's address."""
    return list(ipaddress.IPv4Network(settings.SANDBOX_SUBNET_POOL).subnets(new_prefix=24))[-1]


def mirror_host() -> str:
    """Return the address at which every sandbox reaches the mirror."""
    # Not docker0's address: each sandbox's inner engine puts its own docker0 on that same subnet.
    return settings.MIRROR_HOST or str(mirror_subnet().network_address + 1)


def ensure_address(daemon: Daemon) -> None:
    """Make sure the host holds the mirror's address (by default a bridge of its own on the pool's last /24)."""
    if not settings.MIRROR_HOST:
        ensure_host_network(daemon, MIRROR_NETWORK, str(mirror_subnet()))


def sandbox_daemon_config() -> dict[str, Any]:
    """Return the /etc/docker/daemon.json that points a sandbox's engine at the mirror."""
    mirror = f"{mirror_host()}:{settings.MIRROR_PORT}"
    config: dict[str, Any] = {"registry-mirrors": [f"http://{mirror}"], "insecure-registries": [mirror]}
    if not settings.MIRROR_PROXY_URL:
        # Offline, the engine falls back to Docker Hub after the mirror; send that attempt (and any other
        # registry's) to the offline notice, so it fails at once with a message instead of a DNS error.
        notice = f"http://{mirror_host()}:{settings.MIRROR_OFFLINE_PORT}"
        # Registries a learner runs on the session's nodes stay reachable directly.
        config["proxies"] = {"https-proxy": notice, "no-proxy": f"{mirror_host()},{settings.SANDBOX_SUBNET_POOL}"}
    return config


def sandbox_files() -> dict[str, bytes]:
    """Return the files a new sandbox starts with: its engine's configuration."""
    return {"/etc/docker/daemon.json": json.dumps(sandbox_daemon_config(), indent=2).encode()}


def ensure_host_network(daemon: Daemon, name: str, subnet: str) -> None:
    """Create a bridge network on subnet unless it exists, so the host holds the subnet's first address."""
    api = daemon.client().api
    try:
        if _network_exists(daemon, name):
            return
        api.create_network(
            name,
            driver="bridge",
            ipam=IPAMConfig(pool_configs=[IPAMPool(subnet=subnet)]),
            check_duplicate=True,
            labels={LABEL_ROLE: name},
        )
    except APIError as e:
        # A concurrent start (the mirror's and the offline notice's processes, say) created it first: the engine
        # answers 409 for the name, or "Pool overlaps" for the subnet while the other create is still landing.
        for _ in range(20):
            if _network_exists(daemon, name):
                return
            time.sleep(0.1)
        raise EngineError(f"could not create network {name} on {subnet}: {e.explanation}") from e


def _network_exists(daemon: Daemon, name: str) -> bool:
    # The engine's name filter matches substrings.
    return any(n["Name"] == name for n in daemon.client().api.networks(names=[name]))
