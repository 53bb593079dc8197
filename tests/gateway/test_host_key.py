"""The gateway shows one ed25519 host key, kept private on disk and the same after a restart."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.gateway.conftest import Gateway, start_gateway, stop_gateway


def _host_keys(gateway: Gateway) -> list[str]:
    scan = subprocess.run(
        ["ssh-keyscan", "-p", str(gateway.port), "127.0.0.1"], capture_output=True, text=True, timeout=30
    )
    return sorted(line.split(" ", 1)[1] for line in scan.stdout.splitlines() if not line.startswith("#"))


def test_it_keeps_one_ed25519_host_key(django_db_setup: None, tmp_path: Path) -> None:
    first = start_gateway(tmp_path / "host_key")
    try:
        keys = _host_keys(first)
    finally:
        stop_gateway(first)
    assert len(keys) == 1
    assert keys[0].startswith("ssh-ed25519 ")
    assert (tmp_path / "host_key").stat().st_mode & 0o777 == 0o600

    second = start_gateway(tmp_path / "host_key")
    try:
        assert _host_keys(second) == keys
    finally:
        stop_gateway(second)
