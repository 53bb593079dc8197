"""TLS for a sandbox's inner engine: the documents it serves its API with, and where it finds them."""

from __future__ import annotations

from dataclasses import dataclass

ENGINE_TLS_PORT = 2375
_TLS_DIR = "/etc/docker/tls"


@dataclass(frozen=True)
class EngineTls:
    """PEM documents with which a sandbox's inner dockerd serves TLS on 2375 and verifies its clients."""

    ca_cert: str
    server_cert: str
    server_key: str


def dockerd_args() -> str:
    """Return the arguments that make the inner dockerd serve its API over TLS with the files below."""
    return (
        f"--host=tcp://0.0.0.0:{ENGINE_TLS_PORT} --tlsverify --tlscacert={_TLS_DIR}/ca.pem"
        f" --tlscert={_TLS_DIR}/cert.pem --tlskey={_TLS_DIR}/key.pem"
    )


def tls_files(tls: EngineTls) -> dict[str, bytes]:
    """Return the engine's CA, certificate and key as files for the sandbox."""
    return {
        f"{_TLS_DIR}/ca.pem": tls.ca_cert.encode(),
        f"{_TLS_DIR}/cert.pem": tls.server_cert.encode(),
        f"{_TLS_DIR}/key.pem": tls.server_key.encode(),
    }
