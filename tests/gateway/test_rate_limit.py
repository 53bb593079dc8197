"""A client address that keeps failing to log in is turned away for a while, even with a valid name."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.gateway.conftest import Gateway, Ssh, start_gateway, stop_gateway, user_for


@pytest.fixture
def strict_gateway(django_db_setup: None, tmp_path: Path) -> Iterator[Gateway]:
    started = start_gateway(tmp_path / "host_key", SSH_GATEWAY_FAILURE_BURST="2", SSH_GATEWAY_FAILURES_PER_MINUTE="1")
    yield started
    stop_gateway(started)


def test_it_slows_down_guessing(strict_gateway: Gateway, ssh: Ssh, node: dict[str, Any]) -> None:
    ssh.gateway = strict_gateway
    assert ssh.run(user_for(node), "true").returncode == 0
    for guess in ("a" * 26, "b" * 26):
        assert "there is no session" in ssh.run(user_for(node, session_id=guess), "true").stderr
    refused = ssh.run(user_for(node), "true")
    assert refused.returncode == 255
    assert "too many failed logins from 127.0.0.1: try again in" in refused.stderr
