"""The Host of a request head is found, whatever its case and spacing."""

from __future__ import annotations

import pytest

from router import httphead


@pytest.mark.parametrize(
    ("head", "host"),
    [
        (b"GET / HTTP/1.1\r\nHost: a.direct.localhost:8443\r\n\r\n", "a.direct.localhost:8443"),
        (b"POST /x HTTP/1.1\r\nUser-Agent: t\r\nhOsT:   b.localhost  \r\n\r\n", "b.localhost"),
        (b"GET / HTTP/1.0\r\n\r\n", None),
        (b"GET / HTTP/1.1\r\nHost:\r\n\r\n", None),
        (b"GET /\r\n\r\n", None),
        (b"HELLO\r\n\r\n", None),
    ],
)
def test_it_finds_the_host(head: bytes, host: str | None) -> None:
    assert httphead.host(head) == host


def test_it_recognises_request_lines_by_their_first_byte() -> None:
    assert httphead.looks_like_http(b"G")
    assert not httphead.looks_like_http(b"\x16")
    assert not httphead.looks_like_http(b"")
