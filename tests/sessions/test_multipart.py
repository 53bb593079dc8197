"""A multipart/form-data body is split into its files as it arrives, whatever the chunks' sizes."""

from __future__ import annotations

import pytest

from sessions import multipart

BODY = (
    b"--XyZ\r\n"
    b'Content-Disposition: form-data; name="note"\r\n\r\n'
    b"hello\r\n"
    b"--XyZ\r\n"
    b'Content-Disposition: form-data; name="file"; filename="a.txt"\r\n'
    b"Content-Type: text/plain\r\n\r\n"
    b"first\r\n--Xy not a boundary\r\n"
    b"--XyZ\r\n"
    b'Content-Disposition: form-data; name="file"; filename="C:\\\\dir\\\\b \\"q\\".bin"\r\n\r\n'
    b"\x00\x01\r\n"
    b"--XyZ--\r\n"
    b"epilogue"
)


def files(body: bytes, size: int) -> list[tuple[str, bytes]]:
    parser = multipart.Parser(b"XyZ")
    found: list[tuple[str, bytes]] = []
    for start in range(0, len(body), size):
        for event in parser.feed(body[start : start + size]):
            if isinstance(event, multipart.Part):
                found.append((event.filename, b""))
            else:
                found[-1] = (found[-1][0], found[-1][1] + event.data)
    assert parser.done
    return found


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, len(BODY)])
def test_it_finds_every_part_whatever_the_chunks(size: int) -> None:
    assert files(BODY, size) == [
        ("", b"hello"),
        ("a.txt", b"first\r\n--Xy not a boundary"),
        ('b "q".bin', b"\x00\x01"),
    ]


def test_it_reads_the_boundary_from_the_content_type() -> None:
    assert multipart.boundary("multipart/form-data; boundary=XyZ") == b"XyZ"
    assert multipart.boundary('Multipart/Form-Data; charset=utf-8; boundary="a b"') == b"a b"
    assert multipart.boundary("application/octet-stream") is None
    assert multipart.boundary("multipart/form-data") is None
    assert multipart.boundary('multipart/form-data; boundary=""') is None


def test_it_keeps_only_a_file_name_never_a_folder() -> None:
    assert multipart.filename(b'form-data; filename="../../etc/passwd"') == "passwd"
    assert multipart.filename(b'form-data; filename="..\\..\\evil.sh"') == "evil.sh"
    assert multipart.filename(b'form-data; name="field"') == ""


def test_it_reads_a_file_name_in_utf8() -> None:
    assert multipart.filename('form-data; filename="日本語 ü.txt"'.encode()) == "日本語 ü.txt"
    assert files(BODY.replace(b"a.txt", "ü.txt".encode()), 5)[1][0] == "ü.txt"


@pytest.mark.parametrize(
    "line", [b"X-Header: a\r\n", b"X-Header: " + b"a" * 1000 + b"\r\n", b"X-Header: " + b"a" * 100]
)
def test_it_refuses_endless_headers(line: bytes) -> None:
    parser = multipart.Parser(b"XyZ")
    parser.feed(b"--XyZ\r\n")
    with pytest.raises(multipart.MultipartError):
        for _ in range(1000):
            parser.feed(line)


def test_it_refuses_a_body_that_does_not_start_with_its_boundary() -> None:
    with pytest.raises(multipart.MultipartError):
        multipart.Parser(b"XyZ").feed(b"--AbC\r\n\r\nx\r\n--AbC--\r\n")


def test_a_body_cut_short_is_not_done() -> None:
    parser = multipart.Parser(b"XyZ")
    parser.feed(BODY[:100])
    assert not parser.done
