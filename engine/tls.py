"""TLS for a sandbox's inner engine: the documents it serves its API with, where it finds them, and their issuing."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from django.conf import settings

ENGINE_TLS_PORT = 2375
_TLS_DIR = "/etc/docker/tls"
Key = ec.EllipticCurvePrivateKey
# A posted CACert: docker-machine's own CA, perhaps with an intermediate or two, never a bundle of the world's
# (the platform parses it whenever it follows the instance's ports).
CA_CERTS_LIMIT = 8
CA_BYTES_LIMIT = 32 * 1024
# A posted ServerCert or ServerKey: one certificate, one key (an RSA key of 4096 bits is 3.2 KiB of PEM).
DOCUMENT_BYTES_LIMIT = 8 * 1024
RSA_BITS_LIMIT = 4096


@dataclass(frozen=True)
class EngineTls:
    """PEM documents with which a sandbox's inner dockerd serves TLS on 2375 and verifies its clients."""

    ca_cert: str
    server_cert: str
    server_key: str


@dataclass(frozen=True)
class Issued:
    """An engine's TLS, and a client certificate with its key that this engine alone accepts."""

    engine: EngineTls
    client_cert: str
    client_key: str


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


def check(tls: EngineTls) -> None:
    """Raise ValueError unless the documents are a CA certificate, a certificate and the latter's private key."""
    # Counted before anything is parsed.
    if len(tls.ca_cert) > CA_BYTES_LIMIT or tls.ca_cert.count("-----BEGIN") > CA_CERTS_LIMIT:
        raise ValueError(f"CACert may hold at most {CA_CERTS_LIMIT} certificates, {CA_BYTES_LIMIT // 1024} KiB")
    if max(len(tls.server_cert), len(tls.server_key)) > DOCUMENT_BYTES_LIMIT:
        raise ValueError(f"ServerCert and ServerKey may be at most {DOCUMENT_BYTES_LIMIT // 1024} KiB each")
    # dockerd would refuse such files and never start; better to tell the client at once.
    try:
        x509.load_pem_x509_certificates(tls.ca_cert.encode())
        certificate = x509.load_pem_x509_certificate(tls.server_cert.encode())
        # An RSA key's own consistency checks cost seconds for a large key; the pair is proven below all the same.
        key = serialization.load_pem_private_key(
            tls.server_key.encode(), password=None, unsafe_skip_rsa_key_validation=True
        )
    except (ValueError, TypeError) as e:
        raise ValueError(
            f"CACert, ServerCert and ServerKey must be PEM certificates and an unencrypted key: {e}"
        ) from e
    if isinstance(key, rsa.RSAPrivateKey) and key.key_size > RSA_BITS_LIMIT:
        raise ValueError(f"ServerKey may be an RSA key of at most {RSA_BITS_LIMIT} bits, or an EC key")
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
    now = dt.datetime.now(dt.UTC)
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
