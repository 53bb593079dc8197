"""Stack tests' helpers: a loopback web server for stack files (as a "Try in PWD" link's host would serve them),
and a Celery worker that deploys them."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from django.conf import settings

from tests.processes import Processes, shared_database_url

# The stack tests' Celery broker and channel layer: a Redis database of their own. The celery fixture's is shared
# by every run on the machine, and another run's worker (without this task) would take the deploys queued there.
REDIS_URL = "redis://127.0.0.1:6379/12"

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


@contextmanager
def worker(tmp_path: Path, files: str) -> Iterator[dict[str, str]]:
    """Run the Procfile's worker on REDIS_URL, the test database and the test's mirror, allowed to fetch from
    files; yield the environment a web server beside it needs."""
    env = {
        "REDIS_URL": REDIS_URL,
        "FETCH_ALLOWED_HOSTS": files,
        "MIRROR_PORT": str(settings.MIRROR_PORT),
        "MIRROR_OFFLINE_PORT": str(settings.MIRROR_OFFLINE_PORT),
    }
    database = shared_database_url()
    processes = Processes({**os.environ, **env, "DATABASE_URL": database, "DATA_DIR": str(tmp_path)}, tmp_path)
    processes.start("worker")
    try:
        yield env
    finally:
        processes.stop_all()
