"""scp (over sftp, and legacy scp -O) and sftp move files into and out of the instance intact."""

import hashlib
import os
from pathlib import Path
from typing import Any

from tests.conftest import sh
from tests.gateway.conftest import Ssh, user_for


def _payload(tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "payload.bin"
    path.write_bytes(os.urandom(3 * 1024 * 1024 + 7))
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def test_it_copies_a_file_in_with_scp(ssh: Ssh, node: dict[str, Any], tmp_path: Path) -> None:
    path, digest = _payload(tmp_path)
    result = ssh.scp(str(path), f"{user_for(node)}@127.0.0.1:/tmp/copied.bin")
    assert result.returncode == 0, result.stderr
    assert sh(node, "sha256sum /tmp/copied.bin") == (0, f"{digest}  /tmp/copied.bin\n")


def test_it_copies_with_the_legacy_scp_protocol(ssh: Ssh, node: dict[str, Any], tmp_path: Path) -> None:
    path, digest = _payload(tmp_path)
    result = ssh.scp("-O", str(path), f"{user_for(node)}@127.0.0.1:legacy.bin")
    assert result.returncode == 0, result.stderr
    assert sh(node, "sha256sum /root/legacy.bin") == (0, f"{digest}  /root/legacy.bin\n")
    back = tmp_path / "back.bin"
    assert ssh.scp("-O", f"{user_for(node)}@127.0.0.1:legacy.bin", str(back)).returncode == 0
    assert hashlib.sha256(back.read_bytes()).hexdigest() == digest


def test_it_serves_sftp(ssh: Ssh, node: dict[str, Any], tmp_path: Path) -> None:
    path, digest = _payload(tmp_path)
    back = tmp_path / "back.bin"
    result = ssh.sftp(user_for(node), f"mkdir dir\nput {path} dir/up.bin\nls dir\nget dir/up.bin {back}\n")
    assert result.returncode == 0, result.stderr
    assert "dir/up.bin" in result.stdout
    assert hashlib.sha256(back.read_bytes()).hexdigest() == digest
    assert sh(node, "sha256sum /root/dir/up.bin") == (0, f"{digest}  /root/dir/up.bin\n")
