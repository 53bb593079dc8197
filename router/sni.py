"""Find the server name (SNI) in a TLS ClientHello, without terminating TLS."""

from __future__ import annotations

RECORD_HEADER = 5
HANDSHAKE = 0x16
_CLIENT_HELLO = 0x01
_SERVER_NAME_EXTENSION = 0x0000
_HOST_NAME = 0x00


class Malformed(ValueError):
    """The bytes are not a well-formed TLS ClientHello."""


class _Reader:
    """Read big-endian fields from a buffer, refusing to run past its end."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def take(self, size: int) -> bytes:
        if self.at + size > len(self.data):
            raise Malformed("truncated")
        chunk = self.data[self.at : self.at + size]
        self.at += size
        return chunk

    def number(self, size: int) -> int:
        return int.from_bytes(self.take(size), "big")

    def vector(self, length_size: int) -> _Reader:
        return _Reader(self.take(self.number(length_size)))

    def done(self) -> bool:
        return self.at == len(self.data)


def record_length(header: bytes) -> int:
    """Return the payload length announced by a TLS handshake record header; raise Malformed otherwise."""
    if len(header) != RECORD_HEADER or header[0] != HANDSHAKE or header[1] != 0x03:
        raise Malformed("not a TLS handshake record")
    return int.from_bytes(header[3:5], "big")


def server_name(record: bytes) -> str | None:
    """Return the host name a ClientHello record asks for, or None when it names none."""
    reader = _Reader(record)
    body = _Reader(reader.take(record_length(reader.take(RECORD_HEADER))))
    if body.number(1) != _CLIENT_HELLO:
        raise Malformed("not a ClientHello")
    hello = body.vector(3)
    hello.take(2 + 32)  # legacy_version, random
    hello.vector(1)  # legacy_session_id
    hello.vector(2)  # cipher_suites
    hello.vector(1)  # legacy_compression_methods
    if hello.done():
        return None  # no extensions at all
    extensions = hello.vector(2)
    while not extensions.done():
        kind = extensions.number(2)
        data = extensions.vector(2)
        if kind == _SERVER_NAME_EXTENSION:
            return _host_name(data.vector(2))
    return None


def _host_name(names: _Reader) -> str | None:
    while not names.done():
        kind = names.number(1)
        name = names.vector(2)
        if kind == _HOST_NAME:
            try:
                return name.take(len(name.data)).decode("ascii")
            except UnicodeDecodeError as e:
                raise Malformed("host name is not ASCII") from e
    return None
