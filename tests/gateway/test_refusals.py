"""Only the session id opens an instance: every other login is refused, saying why."""

from __future__ import annotations

import subprocess
import time
from typing import Any

from tests.conftest import Api
from tests.gateway.conftest import Ssh, user_for


def _refusal(ssh: Ssh, user: str) -> str:
    result = ssh.run(user, "true")
    assert result.returncode == 255, result
    return result.stderr


def test_it_refuses_another_sessions_id(ssh: Ssh, api: Api, node: dict[str, Any]) -> None:
    other_session = api.start()
    stderr = _refusal(ssh, user_for(node, session_id=other_session))
    assert f"session {other_session} has no instance at {node['ip']}" in stderr


def test_it_refuses_an_unknown_session(ssh: Ssh, node: dict[str, Any]) -> None:
    stderr = _refusal(ssh, user_for(node, session_id="a" * 26))
    assert f"there is no session {'a' * 26}" in stderr


def test_it_refuses_an_ended_session(ssh: Ssh, api: Api, node: dict[str, Any]) -> None:
    api.client.delete(f"/sessions/{node['session_id']}")
    stderr = _refusal(ssh, user_for(node))
    assert f"session {node['session_id']} has ended" in stderr


def test_it_refuses_a_deleted_instance(ssh: Ssh, api: Api, node: dict[str, Any]) -> None:
    api.client.delete(f"/sessions/{node['session_id']}/instances/{node['name']}")
    stderr = _refusal(ssh, user_for(node))
    assert f"has no instance at {node['ip']}" in stderr


def test_it_refuses_a_name_that_is_no_playground_user(ssh: Ssh, node: dict[str, Any]) -> None:
    for user in ("root", "ip999-1-1-1-" + node["session_id"], node["ip"]):
        assert "is not a playground user: log in as ip<a-b-c-d>-<session id>" in _refusal(ssh, user)


def test_it_refuses_agent_and_x11_forwarding(ssh: Ssh, node: dict[str, Any]) -> None:
    agent_socket = ssh.home / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(agent_socket)], stdout=subprocess.DEVNULL)
    try:
        while not agent_socket.exists():
            time.sleep(0.05)
        env = {**ssh.env, "DISPLAY": ":0", "SSH_AUTH_SOCK": str(agent_socket)}
        extra = ("-A", "-o", "IdentityAgent=SSH_AUTH_SOCK", "-X")
        result = ssh.run(user_for(node), "echo agent=[$SSH_AUTH_SOCK] display=[$DISPLAY]", extra=extra, env=env)
    finally:
        agent.terminate()
        agent.wait(10)
    assert result.stdout == "agent=[] display=[]\n"
    assert "X11 forwarding request failed" in result.stderr
