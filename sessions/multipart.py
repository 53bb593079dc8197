"""Split a multipart/form-data body into its files as it arrives, holding no more than a chunk and a boundary.

Django's MultiPartParser is synchronous and spools each file; python-multipart is not a dependency here. The
format is small (RFC 7578): parts between `--boundary` lines, each with headers, a blank line, then its bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# A part's headers past this are refused: a browser sends a few hundred bytes.
HEADERS_LIMIT = 16 * 1024
_BOUNDARY = re.compile(r"""boundary=(?:"([^"]{1,70})"|([^\s;"]{1,70}))""", re.IGNORECASE)
_FILENAME = re.compile(r"""filename="((?:[^"\\]|\\.)*)"|filename=([^\s;"]+)""", re.IGNORECASE)


class MultipartError(ValueError):
    """The body is not well-formed multipart/form-data."""


@dataclass
class Part:
    """A new part begins; filename is "" for a plain form field."""

    filename: str


@dataclass
class Data:
    """The next bytes of the current part."""

    data: bytes


Event = Part | Data


def boundary(content_type: str) -> bytes | None:
    """Return the boundary of a multipart/form-data Content-Type, or None if it is not one."""
    kind, _, params = content_type.partition(";")
    match = _BOUNDARY.search(params)
    if kind.strip().lower() != "multipart/form-data" or not match:
        return None
    return (match[1] or match[2]).encode("latin-1")


def filename(headers: bytes) -> str:
    """Return the part's file name as its Content-Disposition gives it, without any folder; "" if none."""
    for line in headers.split(b"\r\n"):
        name, _, value = line.decode("utf-8", errors="replace").partition(":")
        if name.strip().lower() == "content-disposition":
            match = _FILENAME.search(value)
            if match:
                raw = re.sub(r"\\(.)", r"\1", match[1]) if match[1] is not None else match[2]
                return raw.replace("\\", "/").rsplit("/", 1)[-1]
    return ""


class Parser:
    """Feed the body's chunks in order; each feed returns the events they complete."""

    def __init__(self, boundary: bytes) -> None:
        self._delimiter = b"\r\n--" + boundary
        # The body's first delimiter has no line break before it: one is assumed, so all look alike.
        self._buffer = bytearray(b"\r\n")
        self._state = "preamble"

    @property
    def done(self) -> bool:
        """Whether the closing delimiter has arrived."""
        return self._state == "end"

    def feed(self, chunk: bytes) -> list[Event]:
        self._buffer += chunk
        events: list[Event] = []
        while self._step(events):
            pass
        return events

    def _step(self, events: list[Event]) -> bool:
        """Take what the buffer completes in the current state; return whether to look again."""
        buffer, delimiter = self._buffer, self._delimiter
        if self._state == "preamble":
            at = buffer.find(delimiter)
            if at < 0:
                del buffer[: max(0, len(buffer) - len(delimiter))]
                return False
            del buffer[: at + len(delimiter)]
            self._state = "after-delimiter"
            return True
        if self._state == "after-delimiter":
            if len(buffer) < 2:
                return False
            if buffer[:2] == b"--":
                self._state = "end"
                return False
            if buffer[:2] != b"\r\n":
                raise MultipartError("a boundary line is not followed by a line break")
            del buffer[:2]
            self._state = "headers"
            return True
        if self._state == "headers":
            # A header line never starts with a line break: one at once means a part without headers.
            at = -2 if buffer.startswith(b"\r\n") else buffer.find(b"\r\n\r\n")
            if at == -1:
                if len(buffer) > HEADERS_LIMIT:
                    raise MultipartError(f"a part's headers pass {HEADERS_LIMIT} bytes")
                return False
            events.append(Part(filename(bytes(buffer[: max(at, 0)]))))
            del buffer[: at + 4]
            self._state = "body"
            return True
        if self._state == "body":
            at = buffer.find(delimiter)
            if at < 0:
                # Keep what could be the start of a delimiter split across chunks.
                keep = len(delimiter) - 1
                if len(buffer) > keep:
                    events.append(Data(bytes(buffer[: len(buffer) - keep])))
                    del buffer[: len(buffer) - keep]
                return False
            if at:
                events.append(Data(bytes(buffer[:at])))
            del buffer[: at + len(delimiter)]
            self._state = "after-delimiter"
            return True
        buffer.clear()  # the epilogue, after the closing delimiter, is ignored
        return False
