"""The router reads PWD's direct names and docker-machine's names, and nothing else."""

from __future__ import annotations

import pytest

from engine.names import direct_host
from router.hostnames import DirectName, MachineName, parse

SID = "abcdefgh234567abcdefgh2345"


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        (f"ip10-213-0-2-{SID}-8080.direct.localhost", DirectName("10.213.0.2", SID, 8080)),
        (f"ip10-213-0-2-{SID}.direct.localhost:8443", DirectName("10.213.0.2", SID, None)),
        (f"IP10-213-0-2-{SID.upper()}-80.Direct.LocalHost.", DirectName("10.213.0.2", SID, 80)),
        ("pwdnode1-abcdefgh-2375.localhost", MachineName("node1", "abcdefgh", 2375)),
        ("pwdmy-machine-abcdefgh-2375.localhost:8443", MachineName("my-machine", "abcdefgh", 2375)),
    ],
)
def test_it_reads_names_of_instances(host: str, expected: object) -> None:
    assert parse(host, "localhost") == expected


@pytest.mark.parametrize(
    "host",
    [
        "localhost",
        "example.com",
        f"ip10-213-0-2-{SID}-8080.direct.example.com",
        f"ip10-213-0-256-{SID}-8080.direct.localhost",
        f"ip10-213-0-2-{SID}-0.direct.localhost",
        f"ip10-213-0-2-{SID}-70000.direct.localhost",
        "pwdnode1-abcdefg-2375.localhost",
        "pwdnode1-abcdefgh-2375.other",
        "[::1]:8443",
        "",
    ],
)
def test_it_refuses_other_names(host: str) -> None:
    assert parse(host, "localhost") is None


def test_it_writes_the_name_of_a_port() -> None:
    name = direct_host(f"ip10-213-0-2-{SID}", 8080, "localhost")
    assert parse(name, "localhost") == DirectName("10.213.0.2", SID, 8080)
