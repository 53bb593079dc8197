"""Read the public keys learners register for PWD's legacy ssh user names."""

from __future__ import annotations

from dataclasses import dataclass

import asyncssh


class BadKey(ValueError):
    """The text is not one OpenSSH public key."""


@dataclass(frozen=True)
class PublicKey:
    openssh: str  # "<algorithm> <base64>", without the comment
    comment: str
    fingerprint: str
    algorithm: str


def parse_public_key(text: str) -> PublicKey:
    """Parse one public key in OpenSSH's one-line format (the contents of a .pub file)."""
    text = text.strip()
    # asyncssh would derive the public half of a private key; refusing it keeps secrets off the server.
    if "PRIVATE KEY" in text:
        raise BadKey("this is a private key: paste the public one (the .pub file, e.g. ~/.ssh/id_ed25519.pub)")
    if not text or "\n" in text:
        raise BadKey("paste exactly one public key, e.g. the contents of ~/.ssh/id_ed25519.pub")
    try:
        key = asyncssh.import_public_key(text)
    except asyncssh.KeyImportError as e:
        raise BadKey(f"not an OpenSSH public key: {e}") from e
    comment = key.get_comment() or ""
    key.set_comment(None)
    return PublicKey(
        openssh=key.export_public_key("openssh").decode().strip(),
        comment=comment[:100],
        fingerprint=key.get_fingerprint("sha256"),
        algorithm=key.get_algorithm(),
    )
