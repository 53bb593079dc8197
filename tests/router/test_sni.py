"""The server name is read from real ClientHellos, and malformed ones are refused without a crash."""

from __future__ import annotations

import ssl

import pytest

from router import sni


def client_hello(server_name: str | None, maximum: ssl.TLSVersion = ssl.TLSVersion.TLSv1_3) -> bytes:
    """Return the first record Python's TLS client sends."""
    context = ssl.create_default_context()
    context.check_hostname = server_name is not None
    context.maximum_version = maximum
    outgoing = ssl.MemoryBIO()
    tls = context.wrap_bio(ssl.MemoryBIO(), outgoing, server_hostname=server_name)
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


@pytest.mark.parametrize("maximum", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_it_reads_the_server_name(maximum: ssl.TLSVersion) -> None:
    record = client_hello("pwdnode1-abcdefgh-2375.localhost", maximum)
    assert sni.record_length(record[: sni.RECORD_HEADER]) == len(record) - sni.RECORD_HEADER
    assert sni.server_name(record) == "pwdnode1-abcdefgh-2375.localhost"


def test_it_answers_none_without_a_server_name() -> None:
    assert sni.server_name(client_hello(None)) is None


@pytest.mark.parametrize("cut", [6, 20, 60, -1])
def test_it_refuses_truncated_hellos(cut: int) -> None:
    record = client_hello("example.test")
    with pytest.raises(sni.Malformed):
        sni.server_name(record[:cut])


def test_it_refuses_what_is_not_a_handshake() -> None:
    with pytest.raises(sni.Malformed):
        sni.record_length(b"GET /")
