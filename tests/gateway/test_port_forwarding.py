"""`ssh -L` and `ssh -W` reach ports of the learner's own instance, and nothing else."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from tests.conftest import Api, sh
from tests.gateway.conftest import Ssh, user_for
from tests.processes import wait_until


def _serve_once(ssh: Ssh, node: dict[str, Any], port: int, reply: str) -> subprocess.Popen[str]:
    server = subprocess.Popen(
        ssh.args(user_for(node)) + [f"busybox nc -l -p {port} -e echo {reply}"], env=ssh.env, text=True
    )

    def listening() -> bool:
        """nc listens in the instance"""
        return f":{port} " in sh(node, "busybox netstat -ltn")[1]

    wait_until(listening, timeout=20)
    return server


def test_it_forwards_a_local_socket_to_a_port_of_the_instance(ssh: Ssh, node: dict[str, Any], tmp_path: Path) -> None:
    server = _serve_once(ssh, node, 8080, "hello-through-L")
    local = tmp_path / "forwarded.sock"
    forward = subprocess.Popen(ssh.args(user_for(node), "-N", "-L", f"{local}:localhost:8080"), env=ssh.env)
    try:
        wait_until(local.exists, timeout=10)
        client = socket.socket(socket.AF_UNIX)
        client.connect(str(local))
        assert client.makefile().readline() == "hello-through-L\n"
        client.close()
    finally:
        forward.terminate()
        forward.wait(10)
        server.wait(10)


def test_it_forwards_stdio_to_the_instances_address(ssh: Ssh, node: dict[str, Any]) -> None:
    server = _serve_once(ssh, node, 9000, "hello-through-W")
    result = ssh.run(user_for(node), extra=("-W", f"{node['ip']}:9000"), input="")
    server.wait(10)
    assert result.stdout == "hello-through-W\n"


def test_it_refuses_to_forward_to_another_sessions_instance(ssh: Ssh, api: Api, node: dict[str, Any]) -> None:
    other = api.add(api.start())
    result = ssh.run(user_for(node), extra=("-W", f"{other['ip']}:2375"), input="")
    assert result.returncode == 255
    assert f"administratively prohibited: only ports of node1 ({node['ip']}) can be forwarded" in result.stderr


def test_it_says_when_nothing_listens_on_the_port(ssh: Ssh, node: dict[str, Any]) -> None:
    result = ssh.run(user_for(node), extra=("-W", "localhost:9999"), input="")
    assert result.returncode == 255
    assert f"connect failed: nothing answers on {node['ip']} port 9999" in result.stderr


def test_a_port_whose_packets_the_learner_drops_fails_in_10_s_not_the_kernels_two_minutes(
    ssh: Ssh, node: dict[str, Any]
) -> None:
    assert sh(node, "iptables -I INPUT -p tcp --dport 9999 -j DROP")[0] == 0
    started = time.monotonic()
    result = ssh.run(user_for(node), extra=("-W", f"{node['ip']}:9999"), input="")
    assert result.returncode == 255
    assert f"connect failed: nothing answers on {node['ip']} port 9999" in result.stderr
    assert time.monotonic() - started < 20
