"""Request bodies past MAX_REQUEST_BODY are refused with 413 while Daphne reads them, before they are stored."""

from __future__ import annotations

import json
import socket

from django.conf import settings

from tests.daphne import Daphne

MB = 1024 * 1024
HUGE = 200 * MB


def _connect(server: Daphne) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
    return sock


def _head(path: str, *headers: str) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: localhost", "Content-Type: application/json", *headers, "", ""]
    return "\r\n".join(lines).encode()


def _read_all(sock: socket.socket) -> bytes:
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    return data


def _status_and_json(answer: bytes) -> tuple[int, dict[str, str]]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def test_it_refuses_an_announced_huge_body_before_it_is_sent(daphne: Daphne) -> None:
    with _connect(daphne) as sock:
        sock.sendall(_head("/sessions/x/instances", f"Content-Length: {HUGE}", "Expect: 100-continue"))
        answer = _read_all(sock)
    status, body = _status_and_json(answer)
    assert status == 413
    assert body == {
        "error": "body_too_large",
        "message": f"request bodies are limited to {settings.MAX_REQUEST_BODY} bytes",
    }
    assert b"100 Continue" not in answer


def test_it_hangs_up_on_a_chunked_body_that_grows_past_the_limit(daphne: Daphne) -> None:
    before = daphne.rss_kib()
    chunk = b"%x\r\n%s\r\n" % (MB, b"[" * MB)
    sent = 0
    with _connect(daphne) as sock:
        sock.sendall(_head("/sessions/x/instances", "Transfer-Encoding: chunked"))
        try:
            while sent < HUGE:
                sock.sendall(chunk)
                sent += MB
        except (BrokenPipeError, ConnectionResetError):
            pass
    assert sent < 20 * MB, "the server kept reading"
    assert daphne.rss_kib() - before < 20 * 1024


def test_it_passes_a_body_under_the_limit_to_the_application(daphne: Daphne) -> None:
    body = b" " * (settings.MAX_REQUEST_BODY - 2) + b"[]"
    with _connect(daphne) as sock:
        sock.sendall(_head("/sessions/x/instances", f"Content-Length: {len(body)}", "Connection: close") + body)
        status, answer = _status_and_json(_read_all(sock))
    assert (status, answer["error"]) == (404, "not_found")
