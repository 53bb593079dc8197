"""The host's own networks (the mirror's address) are created once, however many processes start at once."""

from concurrent.futures import ThreadPoolExecutor

from engine import daemon, mirror
from engine.daemon import default

NAME = "playground-test-host-network"


def test_it_creates_a_host_network_once_when_processes_race(docker_engine: None) -> None:
    try:
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda _: mirror.ensure_host_network(default(), NAME, "10.213.254.0/24"), range(4)))
        assert [n["Name"] for n in daemon.default().client().api.networks(names=[NAME])] == [NAME]
    finally:
        daemon.default().client().api.remove_network(NAME)
