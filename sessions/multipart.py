"""Split a multipart/form-data body into its files as it arrives, holding no more than a chunk and a header line.

The parsing is python-multipart's (Starlette's parser). Its callbacks are synchronous while writing into an
instance is awaited, so each chunk's callbacks become events that the upload then awaits one by one.
"""

from __future__ import annotations

from dataclasses import dataclass

from python_multipart import MultipartParser
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import parse_options_header

# A part's headers past HEADER_LINES lines of HEADER_LINE_LIMIT bytes (16 KiB in all) are refused: a browser sends
# two lines of a few hundred bytes.
HEADER_LINES = 8
HEADER_LINE_LIMIT = 2 * 1024


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
    kind, options = parse_options_header(content_type)
    if kind != b"multipart/form-data":
        return None
    return options.get(b"boundary") or None


def filename(disposition: bytes) -> str:
    """Return the file name a Content-Disposition value gives, without any folder; "" if none."""
    # The header's bytes go in and come out as latin-1, so a browser's UTF-8 name survives to be decoded here.
    raw = parse_options_header(disposition)[1].get(b"filename", b"").decode("utf-8", errors="replace")
    return raw.replace("\\", "/").rsplit("/", 1)[-1]


class Parser:
    """Feed the body's chunks in order; each feed returns the events they complete."""

    def __init__(self, boundary: bytes) -> None:
        self.done = False
        self._events: list[Event] = []
        self._field = self._value = self._disposition = b""
        try:
            self._parser = MultipartParser(
                boundary,
                {
                    "on_part_begin": self._on_part_begin,
                    "on_header_field": self._on_header_field,
                    "on_header_value": self._on_header_value,
                    "on_header_end": self._on_header_end,
                    "on_headers_finished": self._on_headers_finished,
                    "on_part_data": self._on_part_data,
                    "on_end": self._on_end,
                },
                max_header_count=HEADER_LINES,
                max_header_size=HEADER_LINE_LIMIT,
            )
        except FormParserError as e:
            raise MultipartError(str(e)) from None

    def feed(self, chunk: bytes) -> list[Event]:
        try:
            self._parser.write(chunk)
        except FormParserError as e:
            raise MultipartError(str(e)) from None
        events, self._events = self._events, []
        return events

    def _on_part_begin(self) -> None:
        self._disposition = b""

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _on_header_end(self) -> None:
        if self._field.lower() == b"content-disposition":
            self._disposition = self._value
        self._field = self._value = b""

    def _on_headers_finished(self) -> None:
        self._events.append(Part(filename(self._disposition)))

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        self._events.append(Data(data[start:end]))

    def _on_end(self) -> None:
        self.done = True
