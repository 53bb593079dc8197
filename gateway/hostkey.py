"""The gateway's ed25519 host key: generated once, then kept, so clients never see it change."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import asyncssh


def load_or_create(path: Path) -> asyncssh.SSHKey:
    """Return the host key stored at path, generating and storing one (mode 0600) the first time."""
    if not path.exists():
        _create(path)
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)  # a private key others can read is a leak waiting to happen
    return asyncssh.read_private_key(path)


def _create(path: Path) -> None:
    key = asyncssh.generate_private_key("ssh-ed25519", comment="playground ssh gateway")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".hostkey-")  # mkstemp creates it 0600
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(key.export_private_key("openssh"))
        # link() never replaces: when two gateways start at once, both end up using the first one's key.
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        os.unlink(tmp)
