"""TLS for instances' engines: docker-machine's posted certificates, or a CA issued here for each instance."""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from django.conf import settings
from django.utils import timezone

from router.hostnames import direct_host
from router.models import ClientBundle
from sessions.engine import ENGINE_TLS_PORT, EngineTls
from sessions.models import Instance

Key = ec.EllipticCurvePrivateKey
# A posted CACert: docker-machine's own CA, perhaps with an intermediate or two, never a bundle of the world's
# (the platform parses it whenever it follows the instance's ports).
CA_CERTS_LIMIT = 8
CA_BYTES_LIMIT = 32 * 1024


@dataclass(frozen=True)
class Issued:
    engine: EngineTls
    client_cert: str
    client_key: str


def issue_engine_tls(instance: Instance) -> EngineTls:
    """Issue the TLS the instance's engine serves with and a client certificate for it (kept as its ClientBundle).

    The client certificate is the learner's bundle and the platform's way in (it follows the instance's published
    ports with it); it opens this one engine. An instance's own issued CA signs both; a docker-machine instance
    keeps its posted CA for the server, and its engine also trusts a CA made for this one client certificate,
    whose key is discarded at once.
    """
    valid_until = instance.session.expires_at + dt.timedelta(days=1)
    issued = issue(instance.hostname, valid_until=valid_until)
    if instance.tls_server_cert:
        server_ca = instance.tls_ca_cert.rstrip() + "\n"  # run together with the next block, PEM reads as none
        engine = EngineTls(server_ca + issued.engine.ca_cert, instance.tls_server_cert, instance.tls_server_key)
    else:
        server_ca, engine = issued.engine.ca_cert, issued.engine
    ClientBundle.objects.create(
        instance=instance, ca_cert=server_ca, client_cert=issued.client_cert, client_key=issued.client_key
    )
    return engine


def check(tls: EngineTls) -> None:
    """Raise ValueError unless the documents are a CA certificate, a certificate and the latter's private key."""
    if len(tls.ca_cert) > CA_BYTES_LIMIT or tls.ca_cert.count("-----BEGIN") > CA_CERTS_LIMIT:
        raise ValueError(f"CACert may hold at most {CA_CERTS_LIMIT} certificates, {CA_BYTES_LIMIT // 1024} KiB")
    # dockerd would refuse such files and never start; better to tell the client at once.
    try:
        x509.load_pem_x509_certificates(tls.ca_cert.encode())
        certificate = x509.load_pem_x509_certificate(tls.server_cert.encode())
        key = serialization.load_pem_private_key(tls.server_key.encode(), password=None)
    except (ValueError, TypeError) as e:
        raise ValueError(
            f"CACert, ServerCert and ServerKey must be PEM certificates and an unencrypted key: {e}"
        ) from e
    if key.public_key() != certificate.public_key():
        raise ValueError("ServerKey is not the private key of ServerCert")


def issue(hostname: str, valid_until: dt.datetime) -> Issued:
    """Make a CA for one engine, and with it a server certificate for the router's names and a client one."""
    # One CA per instance, its key discarded at once: a bundle opens this engine and no other, even though
    # every server certificate names the same wildcard.
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name(f"Playground engine CA for {hostname}")
    ca = _builder(ca_name, ca_name, ca_key, valid_until).add_extension(
        x509.BasicConstraints(ca=True, path_length=0), critical=True
    )
    ca = ca.add_extension(_usage(cert_sign=True), critical=True)
    ca_cert = ca.sign(ca_key, hashes.SHA256())
    server_key, server_cert = _leaf(
        ca_cert, ca_key, hostname, ExtendedKeyUsageOID.SERVER_AUTH, valid_until, san=_server_names()
    )
    client_key, client_cert = _leaf(ca_cert, ca_key, "client", ExtendedKeyUsageOID.CLIENT_AUTH, valid_until)
    return Issued(
        engine=EngineTls(_pem(ca_cert), _pem(server_cert), _key_pem(server_key)),
        client_cert=_pem(client_cert),
        client_key=_key_pem(client_key),
    )


def _server_names() -> x509.SubjectAlternativeName:
    # The address is assigned only once the container starts, so name every direct host of the domain.
    return x509.SubjectAlternativeName([x509.DNSName(f"*.direct.{settings.PLAYGROUND_DOMAIN}")])


def _leaf(
    ca_cert: x509.Certificate,
    ca_key: Key,
    common_name: str,
    purpose: x509.ObjectIdentifier,
    valid_until: dt.datetime,
    san: x509.SubjectAlternativeName | None = None,
) -> tuple[Key, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = _builder(_name(common_name), ca_cert.subject, key, valid_until)
    builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    builder = builder.add_extension(_usage(cert_sign=False), critical=True)
    builder = builder.add_extension(x509.ExtendedKeyUsage([purpose]), critical=False)
    if san is not None:
        builder = builder.add_extension(san, critical=False)
    return key, builder.sign(ca_key, hashes.SHA256())


def _builder(subject: x509.Name, issuer: x509.Name, key: Key, valid_until: dt.datetime) -> x509.CertificateBuilder:
    now = timezone.now()
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(valid_until)
    )


def _usage(cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _key_pem(key: Key) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


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
        path = f"$HOME/.docker/playground/{instance.hostname}-{instance.session_id[:8]}"
        context = f"{instance.hostname}-{instance.session_id[:8]}"
        return cls(docker_host, path, context)

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
