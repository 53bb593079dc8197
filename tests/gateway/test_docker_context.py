"""The docker CLI drives an instance's engine through an ssh:// context (it runs `docker system dial-stdio`)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from tests.gateway.conftest import Ssh, user_for


def test_it_serves_a_docker_cli_context(ssh: Ssh, node: dict[str, Any]) -> None:
    # The docker CLI runs plain `ssh`; a wrapper first on PATH hands it the test client configuration.
    bin_dir = ssh.home / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "ssh"
    wrapper.write_text(f'#!/bin/sh\nexec /usr/bin/ssh -F {ssh.config} "$@"\n')
    wrapper.chmod(0o755)
    env = {**ssh.env, "PATH": f"{bin_dir}:{ssh.env['PATH']}", "DOCKER_CONFIG": str(ssh.home / "docker")}

    def docker(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["docker", *args], env=env, capture_output=True, text=True, timeout=60)

    host = f"ssh://{user_for(node)}@127.0.0.1:{ssh.gateway.port}"
    assert docker("context", "create", "sandbox", "--docker", f"host={host}").returncode == 0
    info = docker("--context", "sandbox", "info", "--format", "{{.Name}}")
    assert info.returncode == 0, info.stderr
    assert info.stdout == "node1\n"
    ps = docker("--context", "sandbox", "ps")
    assert ps.returncode == 0, ps.stderr
    assert ps.stdout.startswith("CONTAINER ID")
    assert Path(ssh.home / "docker" / "contexts").is_dir()
