"""Fetching a learner's URL: allowed hosts only, redirects rechecked, cut at a size and a deadline."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.test import override_settings

from sessions import fetch


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        if self.path == "/hello":
            self._answer(200, b"hello\n")
        elif self.path == "/big":
            self._answer(200, b"x" * 5000)
        elif self.path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for _ in range(10):
                self.wfile.write(b"3e8\r\n" + b"y" * 1000 + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        elif self.path == "/trickle":
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            for _ in range(100):
                self.wfile.write(b"z")
                self.wfile.flush()
                time.sleep(0.1)
        elif self.path.startswith("/redirect"):
            self.send_response(302)
            self.send_header("Location", self.path.partition("?to=")[2])
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self._answer(404, b"no")

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def read(url: str, **kwargs: float) -> bytes:
    with fetch.fetch(url, **kwargs) as chunks:  # type: ignore[arg-type]
        return b"".join(chunks)


def test_it_fetches_from_an_allowed_host(server: str) -> None:
    with override_settings(FETCH_ALLOWED_HOSTS=[server]):
        assert read(f"http://{server}/hello") == b"hello\n"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:1/hello",
        "file:///etc/passwd",
        "ftp://{server}/hello",
        "http://user:pw@{server}/hello",
        "http://{server}:99999/hello",
        "not a url",
    ],
)
def test_it_refuses_other_hosts_and_schemes(server: str, url: str) -> None:
    with override_settings(FETCH_ALLOWED_HOSTS=[server]), pytest.raises(fetch.FetchRefused):
        read(url.format(server=server))


def test_a_redirect_is_followed_only_to_an_allowed_host(server: str) -> None:
    with override_settings(FETCH_ALLOWED_HOSTS=[server]):
        assert read(f"http://{server}/redirect?to=/hello") == b"hello\n"
        with pytest.raises(fetch.FetchRefused):
            read(f"http://{server}/redirect?to=http://127.0.0.2:{server.partition(':')[2]}/hello")


def test_it_cuts_at_the_size_limit(server: str) -> None:
    with override_settings(FETCH_ALLOWED_HOSTS=[server]):
        with pytest.raises(fetch.FetchTooLarge, match="5000 bytes"):
            read(f"http://{server}/big", limit=4096)
        with pytest.raises(fetch.FetchTooLarge):
            read(f"http://{server}/chunked", limit=4096)
        assert len(read(f"http://{server}/chunked", limit=10_000)) == 10_000


def test_it_cuts_a_trickle_at_the_deadline(server: str) -> None:
    started = time.monotonic()
    with override_settings(FETCH_ALLOWED_HOSTS=[server]), pytest.raises(fetch.FetchFailed, match="in time"):
        read(f"http://{server}/trickle", timeout=1.0)
    assert time.monotonic() - started < 3


def test_an_error_answer_says_what_the_server_answered(server: str) -> None:
    with override_settings(FETCH_ALLOWED_HOSTS=[server]), pytest.raises(fetch.FetchFailed, match="404"):
        read(f"http://{server}/missing")
