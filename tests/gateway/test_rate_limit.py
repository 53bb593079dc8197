"""A client address that keeps failing to log in is slowed down, yet never locks out the right session id or key."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from tests.gateway.conftest import Gateway, Ssh, legacy_user_for, register_key, start_gateway, stop_gateway, user_for

GUESSES = ["a" * 26, "b" * 26, "c" * 26, "d" * 26]


@pytest.fixture
def strict_gateway(django_db_setup: None, tmp_path: Path) -> Iterator[Gateway]:
    started = start_gateway(tmp_path / "host_key", SSH_GATEWAY_FAILURE_BURST="2", SSH_GATEWAY_FAILURES_PER_MINUTE="1")
    yield started
    stop_gateway(started)


def test_it_slows_down_guessing(strict_gateway: Gateway, ssh: Ssh, node: dict[str, Any]) -> None:
    ssh.gateway = strict_gateway
    for guess in GUESSES[:2]:
        assert "there is no session" in ssh.run(user_for(node, session_id=guess), "true").stderr
    refused = ssh.run(user_for(node, session_id=GUESSES[2]), "true")
    assert refused.returncode == 255
    assert "too many failed logins from 127.0.0.1: try again in" in refused.stderr
    assert "there is no session" not in refused.stderr


def test_it_never_locks_out_the_right_session_id(strict_gateway: Gateway, ssh: Ssh, node: dict[str, Any]) -> None:
    ssh.gateway = strict_gateway
    for guess in GUESSES:
        assert ssh.run(user_for(node, session_id=guess), "true").returncode == 255
    admitted = ssh.run(user_for(node), "hostname")
    assert admitted.returncode == 0, admitted.stderr
    assert admitted.stdout == "node1\n"


def test_it_never_locks_out_a_registered_key(
    strict_gateway: Gateway, ssh: Ssh, client: Client, node: dict[str, Any]
) -> None:
    ssh.gateway = strict_gateway
    alice = ssh.new_key("alice")
    register_key(client, node, alice)
    mallory = ("-i", str(ssh.new_key("mallory")))
    for _ in range(4):
        hammered = ssh.run(legacy_user_for(node), "true", extra=mallory)
        assert hammered.returncode == 255
    assert "too many failed logins from 127.0.0.1" in hammered.stderr
    admitted = ssh.run(legacy_user_for(node), "hostname", extra=("-i", str(alice)))
    assert admitted.returncode == 0, admitted.stderr
    assert admitted.stdout == "node1\n"
