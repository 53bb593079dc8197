"""Read the Host of a plain HTTP/1 request head, enough to route it; the bytes go on unchanged."""

from __future__ import annotations

_METHOD_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def looks_like_http(first: bytes) -> bool:
    """Tell whether a connection's first byte can start an HTTP/1 request line (a method name)."""
    return bool(first) and first[0] in _METHOD_CHARS


def host(head: bytes) -> str | None:
    """Return the Host header of a request head ending in CRLF CRLF, or None when it has none."""
    lines = head.decode("latin-1").split("\r\n")
    if len(lines[0].split(" ")) != 3 or not lines[0].split(" ")[2].startswith("HTTP/1."):
        return None
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep and name.strip().lower() == "host":
            return value.strip() or None
    return None
