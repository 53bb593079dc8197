"""Where sandboxes find the registry mirror: an address the host holds on a bridge network of its own."""

from __future__ import annotations

import time

from docker.errors import APIError
from docker.types import IPAMConfig, IPAMPool

from engine import EngineError
from engine.daemon import LABEL_ROLE, client


def ensure_host_network(name: str, subnet: str) -> None:
    """Create a bridge network on subnet unless it exists, so the host holds the subnet's first address."""
    api = client().api
    try:
        if _network_exists(name):
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
            if _network_exists(name):
                return
            time.sleep(0.1)
        raise EngineError(f"could not create network {name} on {subnet}: {e.explanation}") from e


def _network_exists(name: str) -> bool:
    # The engine's name filter matches substrings.
    return any(n["Name"] == name for n in client().api.networks(names=[name]))
