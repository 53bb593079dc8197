import base64
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from engine import tls
from sessions.lifecycle import BadInput
from sessions.parsing import instance_request, parse_duration

PEM = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n").decode()


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def machine_tls(key_of: str = "server") -> str:
    """Return docker-machine's TLS fields as JSON members, with the server key of another pair if asked."""
    issued = tls.issue("m1", timezone.now() + timedelta(hours=1))
    key = issued.engine.server_key if key_of == "server" else issued.client_key
    return (
        f'"ServerCert": "{b64(issued.engine.server_cert)}", "ServerKey": "{b64(key)}", '
        f'"CACert": "{b64(issued.engine.ca_cert)}"'
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90m", timedelta(minutes=90)),
        ("1h30m", timedelta(minutes=90)),
        ("20s", timedelta(seconds=20)),
        ("45", timedelta(seconds=45)),
    ],
)
def test_it_reads_go_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


def test_it_treats_an_empty_duration_as_the_default() -> None:
    assert parse_duration("") is None


@pytest.mark.parametrize("text", ["soon", "10x", "-5m", "0s", "5m later"])
def test_it_refuses_bad_durations(text: str) -> None:
    with pytest.raises(BadInput):
        parse_duration(text)


def test_it_reads_keys_case_insensitively() -> None:
    request = instance_request(b'{"imagename": "img", "HOSTNAME": "Web1", "envs": ["A=1", "B=x=y"]}')
    assert (request.image, request.hostname, request.env) == ("img", "web1", {"A": "1", "B": "x=y"})


def test_it_accepts_pwds_sdk_body() -> None:
    request = instance_request(b'{"Hostname":"node1","ImageName":"","Envs":[],"Networks":[]}')
    assert (request.image, request.hostname, request.env) == ("", "node1", {})


def test_it_decodes_docker_machine_tls_material() -> None:
    request = instance_request(f"{{{machine_tls()}}}".encode())
    assert request.tls_server_cert.startswith("-----BEGIN CERTIFICATE-----")
    assert request.tls_server_key.startswith("-----BEGIN PRIVATE KEY-----")


def test_it_refuses_tls_material_dockerd_could_not_load() -> None:
    with pytest.raises(BadInput, match="must be PEM certificates"):
        instance_request(f'{{"ServerCert": "{PEM}", "ServerKey": "{PEM}", "CACert": "{PEM}"}}'.encode())


def test_it_refuses_a_server_key_too_large_to_be_one_key() -> None:
    fields = json.loads(f"{{{machine_tls()}}}")
    fields["ServerKey"] = b64(base64.b64decode(fields["ServerKey"]).decode() + "\n" * tls.DOCUMENT_BYTES_LIMIT)
    with pytest.raises(BadInput, match="at most 8 KiB each"):
        instance_request(json.dumps(fields).encode())


def test_it_refuses_a_ca_bundle_of_many_certificates() -> None:
    fields = json.loads(f"{{{machine_tls()}}}")
    fields["CACert"] = b64(base64.b64decode(fields["CACert"]).decode() * (tls.CA_CERTS_LIMIT + 1))
    with pytest.raises(BadInput, match=f"at most {tls.CA_CERTS_LIMIT} certificates"):
        instance_request(json.dumps(fields).encode())


def test_it_refuses_a_server_key_of_another_certificate() -> None:
    with pytest.raises(BadInput, match="not the private key of ServerCert"):
        instance_request(f"{{{machine_tls(key_of='client')}}}".encode())


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[1, 2]",
        b'{"Hostname": 5}',
        b'{"Hostname": "under_score"}',
        b'{"Envs": "A=1"}',
        b'{"Envs": ["no-equals"]}',
        b'{"ServerCert": "!!!"}',
        b'{"ServerCert": "aGVsbG8="}',
        f'{{"ServerCert": "{PEM}"}}'.encode(),
        b"\xff\xfe",
    ],
)
def test_it_refuses_malformed_bodies(body: bytes) -> None:
    with pytest.raises(BadInput):
        instance_request(body)
