"""What learners need to reach an instance's engine from their own machine: the lines and the client bundle."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass

from django.conf import settings

from engine.names import direct_host, short
from engine.tls import ENGINE_TLS_PORT
from sessions.models import ClientBundle, Instance


@dataclass(frozen=True)
class Connection:
    """How a learner's docker CLI reaches an instance's engine through the router."""

    docker_host: str
    cert_path: str
    context: str

    @classmethod
    def of(cls, instance: Instance) -> Connection:
        host = direct_host(instance.proxy_host, ENGINE_TLS_PORT, settings.PLAYGROUND_DOMAIN)
        docker_host = f"tcp://{host}:{settings.ROUTER_PUBLIC_PORT}"
        context = f"{instance.hostname}-{short(instance.session_id)}"
        return cls(docker_host, f"$HOME/.docker/playground/{context}", context)

    def env(self) -> str:
        return (
            f"export DOCKER_HOST={self.docker_host}\n"
            "export DOCKER_TLS_VERIFY=1\n"
            f"export DOCKER_CERT_PATH={self.cert_path}\n"
        )

    def unzip_command(self) -> str:
        return f'mkdir -p "{self.cert_path}" && unzip -o -d "{self.cert_path}" {self.context}.zip'

    def context_command(self) -> str:
        files = ",".join(f"{k}={self.cert_path}/{k}.pem" for k in ("ca", "cert", "key"))
        return f'docker context create {self.context} --docker "host={self.docker_host},{files}"'

    def to_json(self) -> dict[str, str]:
        return {
            "docker_host": self.docker_host,
            "cert_path": self.cert_path,
            "unzip": self.unzip_command(),
            "env": self.env(),
            "context": self.context_command(),
        }


def bundle_zip(bundle: ClientBundle, connection: Connection) -> bytes:
    """Zip the files DOCKER_CERT_PATH expects (ca.pem, cert.pem, key.pem) with the lines that use them."""
    readme = (
        f"{connection.unzip_command()}\n\nthen either\n\n{connection.env()}\nor\n\n"
        f"{connection.context_command()}\ndocker context use {connection.context}\n"
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("ca.pem", bundle.ca_cert)
        archive.writestr("cert.pem", bundle.client_cert)
        key = zipfile.ZipInfo("key.pem")
        key.external_attr, key.compress_type = 0o600 << 16, zipfile.ZIP_DEFLATED
        archive.writestr(key, bundle.client_key)
        archive.writestr("README.txt", readme)
    return buffer.getvalue()
