"""A real SSH gateway process on a free port, sharing the test database, and real OpenSSH clients for it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from sessions.models import Playground
from tests.conftest import Api
from tests.processes import shared_database_url

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Gateway:
    port: int
    host_key: Path
    process: subprocess.Popen[str]


def start_gateway(host_key: Path, **env: str) -> Gateway:
    """Run `manage.py run_ssh_gateway` on a free loopback port, using the test database."""
    environment = {
        **os.environ,
        "DATABASE_URL": shared_database_url(),
        "SANDBOX_DEPLOYMENT": settings.SANDBOX_DEPLOYMENT,
        "SSH_GATEWAY_HOST_KEY": str(host_key),
        "PYTHONUNBUFFERED": "1",
        **env,
    }
    process = subprocess.Popen(
        [sys.executable, "manage.py", "run_ssh_gateway", "--bind", "127.0.0.1", "--port", "0"],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()  # "ssh gateway listening on 127.0.0.1:<port>"
    assert "listening on" in line, f"the gateway did not start: {line!r}"
    return Gateway(int(line.rsplit(":", 1)[1]), host_key, process)


def stop_gateway(gateway: Gateway) -> None:
    gateway.process.terminate()
    gateway.process.wait(10)


@pytest.fixture(scope="session")
def gateway(django_db_setup: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    # Refusal tests fail logins on purpose; test_rate_limit.py checks the limit on a gateway of its own.
    started = start_gateway(tmp_path_factory.mktemp("gateway") / "host_key", SSH_GATEWAY_FAILURE_BURST="10000")
    yield started
    stop_gateway(started)


@dataclass
class Ssh:
    """OpenSSH's clients, configured for the test gateway and nothing else on this machine."""

    gateway: Gateway
    home: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def config(self) -> Path:
        return self.home / "ssh_config"

    def args(self, user: str, *extra: str) -> list[str]:
        return ["ssh", "-F", str(self.config), "-p", str(self.gateway.port), *extra, f"{user}@127.0.0.1"]

    def run(
        self, user: str, *command: str, extra: tuple[str, ...] = (), **kwargs: Any
    ) -> subprocess.CompletedProcess[str]:
        """Run ssh user@gateway command…; return the finished process with its stdout and stderr as text."""
        kwargs.setdefault("capture_output", True)
        kwargs.setdefault("text", True)
        kwargs.setdefault("timeout", 60)
        kwargs.setdefault("env", self.env)
        return subprocess.run([*self.args(user, *extra), *command], **kwargs)

    def scp(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = ["scp", "-F", str(self.config), "-P", str(self.gateway.port), *args]
        return subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=60)

    def sftp(self, user: str, batch: str) -> subprocess.CompletedProcess[str]:
        command = ["sftp", "-F", str(self.config), "-P", str(self.gateway.port), "-b", "-", f"{user}@127.0.0.1"]
        return subprocess.run(command, env=self.env, input=batch, capture_output=True, text=True, timeout=60)

    def new_key(self, name: str) -> Path:
        """Generate an ed25519 key pair in the client's home; return the private key's path."""
        path = self.home / name
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(path)], check=True)
        return path


@pytest.fixture
def ssh(gateway: Gateway, tmp_path: Path) -> Ssh:
    home = tmp_path / "home"
    home.mkdir()
    # OpenSSH reads ~/.ssh from the password database, not $HOME: a config file keeps it off root's keys.
    (home / "ssh_config").write_text(
        "Host *\n"
        "  StrictHostKeyChecking no\n"
        f"  UserKnownHostsFile {home / 'known_hosts'}\n"
        "  IdentityAgent none\n"
        "  IdentitiesOnly yes\n"
        "  BatchMode yes\n"
        "  ConnectTimeout 20\n"
    )
    env = {"HOME": str(home), "PATH": os.environ["PATH"], "LANG": "C.UTF-8"}
    return Ssh(gateway, home, env)


def user_for(instance: dict[str, Any], session_id: str | None = None) -> str:
    """Return the ssh user name of an instance, or the same with another session's id."""
    return f"ip{instance['ip'].replace('.', '-')}-{session_id or instance['session_id']}"


def legacy_user_for(instance: dict[str, Any], session_id: str | None = None) -> str:
    """Return PWD's short user name of an instance, <a-b-c-d>-<first 8 characters of the session id>."""
    return f"{instance['ip'].replace('.', '-')}-{(session_id or instance['session_id'])[:8]}"


def register_key(client: Client, instance: dict[str, Any], key: Path) -> None:
    """Register the public half of `key` on the instance's session page, as its learner would."""
    body = {"key": key.with_suffix(".pub").read_text()}
    response = client.post(f"/sessions/{instance['session_id']}/ssh-keys", body, content_type="application/json")
    assert response.status_code == 201, response.content


@pytest.fixture
def node(live: Playground, api: Api) -> dict[str, Any]:
    """A running instance in a new session."""
    return api.add(api.start())
