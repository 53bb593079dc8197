"""PWD's short user name <a-b-c-d>-<sid[:8]> opens an instance only with a key registered on the session page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.test import Client

from tests.gateway.conftest import Ssh


def _legacy_user(node: dict[str, Any]) -> str:
    return f"{node['ip'].replace('.', '-')}-{node['session_id'][:8]}"


def _register(client: Client, node: dict[str, Any], key: Path) -> None:
    body = {"key": key.with_suffix(".pub").read_text()}
    response = client.post(f"/sessions/{node['session_id']}/ssh-keys", body, content_type="application/json")
    assert response.status_code == 201, response.content


def test_it_admits_a_registered_key(ssh: Ssh, client: Client, node: dict[str, Any]) -> None:
    key = ssh.new_key("alice")
    _register(client, node, key)
    result = ssh.run(_legacy_user(node), "hostname", extra=("-i", str(key)))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "node1\n"


def test_it_refuses_a_key_nobody_registered(ssh: Ssh, client: Client, node: dict[str, Any]) -> None:
    _register(client, node, ssh.new_key("alice"))
    result = ssh.run(_legacy_user(node), "hostname", extra=("-i", str(ssh.new_key("mallory"))))
    assert result.returncode == 255
    assert "only public keys registered on the session page open this short user name" in result.stderr
    assert "Permission denied (publickey)" in result.stderr


def test_it_refuses_the_short_name_while_no_key_is_registered(ssh: Ssh, node: dict[str, Any]) -> None:
    result = ssh.run(_legacy_user(node), "hostname", extra=("-i", str(ssh.new_key("alice"))))
    assert result.returncode == 255
    assert "needs a public key registered on the session page" in result.stderr
