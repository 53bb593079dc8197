"""A loopback web server for stack files, as a "Try in PWD" link's host would serve them."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# busybox from the mirror serves its /etc on the published port 8080.
COMPOSE = """\
services:
  web:
    image: busybox
    command: httpd -f -p 80 -h /etc
    ports: ["8080:80"]
"""
FILES = {"/stack.yml": COMPOSE.encode(), "/big.yml": b"#" * 300_000, "/binary.yml": b"\xff\xfe" * 10}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        body = FILES.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()
        self.wfile.write(body or b"")

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def serving() -> Iterator[str]:
    """Serve FILES on a free loopback port; yield its host:port."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
