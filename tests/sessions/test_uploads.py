"""Uploads stream into a real instance through a real Daphne, bounded in size, time and memory."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from engine.daemon import default
from engine.streams import open_tty
from sessions.models import Playground
from tests.conftest import Api, sh
from tests.daphne import Daphne, start_daphne, stop_daphne

MB = 1024 * 1024
BOUNDARY = "pwd-test-boundary"


@pytest.fixture
def instance(live: Playground, api: Api) -> dict[str, Any]:
    return api.add(api.start())


@pytest.fixture
def daphne(live: Playground, tmp_path: Path) -> Iterator[Daphne]:
    server = start_daphne(tmp_path / "daphne.log", UPLOAD_TIMEOUT="20")
    yield server
    stop_daphne(server)


def uploads_url(instance: dict[str, Any], **query: str) -> str:
    params = "&".join(f"{k}={quote(v)}" for k, v in query.items())
    return f"/sessions/{instance['session_id']}/instances/{instance['name']}/uploads?{params}"


def multipart_body(*files: tuple[str, bytes]) -> bytes:
    parts = b"".join(
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n\r\n'.encode()
        + data
        + b"\r\n"
        for name, data in files
    )
    return parts + f"--{BOUNDARY}--\r\n".encode()


def post(
    server: Daphne, path: str, body: bytes | Iterator[bytes], length: int | None = None, multipart: bool = True
) -> tuple[int, dict[str, Any]]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
    kind = f"multipart/form-data; boundary={BOUNDARY}" if multipart else "application/octet-stream"
    headers = {"Content-Type": kind}
    if length is not None:
        headers["Content-Length"] = str(length)
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def test_it_writes_two_files_where_the_shell_stands(instance: dict[str, Any], daphne: Daphne) -> None:
    body = multipart_body(("one.txt", b"first file\n"), ("two.bin", bytes(range(256)) * 4))
    status, answer = post(daphne, uploads_url(instance, path="inbox"), body)
    assert status == 200, answer
    assert answer == {
        "files": [{"path": "/root/inbox/one.txt", "bytes": 11}, {"path": "/root/inbox/two.bin", "bytes": 1024}]
    }
    code, output = sh(instance, "cat /root/inbox/one.txt; wc -c < /root/inbox/two.bin; ls -A /root/inbox")
    assert output == "first file\n1024\none.txt\ntwo.bin\n"


def test_it_takes_the_raw_body_as_pwds_sdk_sends_it(instance: dict[str, Any], daphne: Daphne) -> None:
    status, answer = post(daphne, uploads_url(instance, url="notes.md", path="/tmp"), b"# notes\n", multipart=False)
    assert (status, answer["files"][0]["path"]) == (200, "/tmp/notes.md")
    status, answer = post(daphne, uploads_url(instance, path="/tmp/x/y.txt"), b"y\n", multipart=False)
    assert (status, answer["files"][0]["path"]) == (200, "/tmp/x/y.txt")
    assert sh(instance, "cat /tmp/notes.md /tmp/x/y.txt")[1] == "# notes\ny\n"
    connection = http.client.HTTPConnection("127.0.0.1", daphne.port, timeout=30)
    headers = {"Content-Disposition": 'attachment; filename="named.txt"'}
    connection.request("POST", uploads_url(instance, path="/tmp"), body=b"n\n", headers=headers)
    assert json.loads(connection.getresponse().read())["files"][0]["path"] == "/tmp/named.txt"
    connection.close()


def test_one_connection_carries_several_uploads_and_then_other_requests(
    instance: dict[str, Any], daphne: Daphne
) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", daphne.port, timeout=30)
    headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    try:
        for n in range(3):
            body = multipart_body((f"k{n}", b"k" * 300_000))
            connection.request("POST", uploads_url(instance, path="/tmp"), body=body, headers=headers)
            response = connection.getresponse()
            assert response.status == 200, response.read()
            response.read()
        connection.request("GET", f"/sessions/{instance['session_id']}")
        response = connection.getresponse()
        assert (response.status, json.loads(response.read())["id"]) == (200, instance["session_id"])
    finally:
        connection.close()
    assert sh(instance, "ls /tmp")[1] == "k0\nk1\nk2\n"


def test_a_relative_path_follows_the_terminal_shell(instance: dict[str, Any], daphne: Daphne) -> None:
    # The shell on the sandbox's tty stands where the learner typed `cd`; a shell elsewhere does not count.
    sh(instance, "mkdir -p /srv/work")

    async def cd() -> None:
        # The terminal as a browser drives it: sized (which starts the shell), then typed into.
        tty = await open_tty(default(), instance["name"])
        await tty.resize(80, 24)
        await asyncio.sleep(1)
        tty.write(b"cd /srv/work\r")
        await tty.drain()
        await asyncio.sleep(1)
        tty.close()

    asyncio.run(cd())
    status, answer = post(daphne, uploads_url(instance, path="here"), multipart_body(("f.txt", b"f")))
    assert (status, answer["files"][0]["path"]) == (200, "/srv/work/here/f.txt")


def test_a_shell_folder_the_instance_lies_about_is_not_used(instance: dict[str, Any], daphne: Daphne) -> None:
    sh(
        instance,
        "printf '#!/bin/sh\\necho not/absolute\\n' > /usr/local/bin/readlink && chmod +x /usr/local/bin/readlink",
    )
    status, answer = post(daphne, uploads_url(instance, path="here"), multipart_body(("f.txt", b"f")))
    assert (status, answer["files"][0]["path"]) == (200, "/root/here/f.txt")


def test_200_mb_arrive_intact_with_the_server_memory_flat(instance: dict[str, Any], daphne: Daphne) -> None:
    size = 200 * MB
    head = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n\r\n'.encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    digest = hashlib.sha256()

    def body() -> Iterator[bytes]:
        yield head
        block = hashlib.sha512(b"seed").digest() * 1024  # 64 KiB
        for n in range(size // len(block)):
            chunk = n.to_bytes(8, "big") + block[8:]
            digest.update(chunk)
            yield chunk
        yield tail

    peak = 0
    done = threading.Event()

    def watch() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, daphne.rss_kib())
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        status, answer = post(daphne, uploads_url(instance, path="/root"), body(), len(head) + size + len(tail))
    finally:
        done.set()
        watcher.join()
    assert status == 200, answer
    assert answer["files"] == [{"path": "/root/big.bin", "bytes": size}]
    code, output = sh(instance, "sha256sum /root/big.bin")
    assert output.split()[0] == digest.hexdigest()
    assert peak < 200 * 1024, f"Daphne's RSS reached {peak // 1024} MiB"


def test_it_refuses_past_the_cap_and_leaves_nothing(instance: dict[str, Any], live: Playground, tmp_path: Path) -> None:
    server = start_daphne(tmp_path / "capped.log", UPLOAD_MAX_BYTES=str(MB))
    try:
        status, answer = post(server, uploads_url(instance, path="/tmp"), multipart_body(("a", b"a" * 2 * MB)))
        assert (status, answer["error"]) == (413, "body_too_large")
        assert str(MB) in answer["message"]

        def chunked() -> Iterator[bytes]:
            yield f'--{BOUNDARY}\r\nContent-Disposition: form-data; filename="b"\r\n\r\n'.encode()
            for _ in range(4):
                yield b"b" * (MB // 2)
                time.sleep(0.2)

        with contextlib.suppress(ConnectionError, http.client.HTTPException):
            post(server, uploads_url(instance, path="/tmp"), chunked())
    finally:
        stop_daphne(server)
    time.sleep(1)
    assert sh(instance, "ls -A /tmp")[1] == ""


@pytest.mark.parametrize(
    ("limits", "status", "code"),
    [({"UPLOAD_TIMEOUT": "3"}, 408, "upload_timeout"), ({"UPLOAD_STALL_TIMEOUT": "2"}, 422, "file_error")],
)
def test_a_hostile_instance_is_cut(
    instance: dict[str, Any], live: Playground, tmp_path: Path, limits: dict[str, str], status: int, code: str
) -> None:
    # The learner's `cat` never reads: the upload stalls, is cut, and its file is removed.
    sh(instance, "printf '#!/bin/sh\\nsleep 1000\\n' > /usr/local/bin/cat && chmod +x /usr/local/bin/cat")
    server = start_daphne(tmp_path / "hostile.log", **limits)
    try:
        started = time.monotonic()
        answer = post(server, uploads_url(instance, path="/tmp"), multipart_body(("s", b"s" * 8 * MB)))
        assert (answer[0], answer[1]["error"]) == (status, code)
        assert time.monotonic() - started < 15
        assert "Traceback" not in server.log.read_text()
    finally:
        stop_daphne(server)
    sh(instance, "rm /usr/local/bin/cat")
    assert sh(instance, "ls -A /tmp")[1] == ""


def test_a_client_that_hangs_up_midway_leaves_nothing(instance: dict[str, Any], daphne: Daphne) -> None:
    head = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="half"\r\n\r\n'.encode()
    with socket.create_connection(("127.0.0.1", daphne.port), timeout=10) as sock:
        request = f"POST {uploads_url(instance, path='/tmp')} HTTP/1.1\r\nHost: localhost\r\n"
        request += f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {10 * MB}\r\n\r\n"
        sock.sendall(request.encode() + head + b"h" * MB)
        time.sleep(1)
    time.sleep(2)
    assert sh(instance, "ls -A /tmp")[1] == ""
    assert "Traceback" not in daphne.log.read_text()


@pytest.mark.parametrize("limit", ["UPLOAD_TIMEOUT", "UPLOAD_STALL_TIMEOUT"])
def test_a_client_that_stalls_is_answered_at_the_deadline_and_hung_up_on(
    instance: dict[str, Any], live: Playground, tmp_path: Path, limit: str
) -> None:
    server = start_daphne(tmp_path / "stall.log", **{limit: "2"})
    head = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="slow"\r\n\r\n'.encode()
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            request = f"POST {uploads_url(instance, path='/tmp')} HTTP/1.1\r\nHost: localhost\r\n"
            request += f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {MB}\r\n\r\n"
            sock.sendall(request.encode() + head + b"GET /ping HTTP/1.1\r\nHost: localhost\r\n\r\n")
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 408 ")
        assert b"upload_timeout" in answer and b'"status": "ok"' not in answer
        assert "Traceback" not in server.log.read_text()
    finally:
        stop_daphne(server)
    assert sh(instance, "ls -A /tmp")[1] == ""


@pytest.mark.parametrize("limit", ["UPLOADS_AT_ONCE", "UPLOADS_PER_SESSION"])
def test_uploads_past_the_limit_at_once_get_429(
    instance: dict[str, Any], live: Playground, tmp_path: Path, limit: str
) -> None:
    sh(instance, "printf '#!/bin/sh\\nsleep 1000\\n' > /usr/local/bin/cat && chmod +x /usr/local/bin/cat")
    server = start_daphne(tmp_path / "busy.log", **{limit: "1"}, UPLOAD_TIMEOUT="5")
    try:
        stalled = threading.Thread(
            target=post, args=(server, uploads_url(instance, path="/tmp"), multipart_body(("s", b"s" * 8 * MB)))
        )
        stalled.start()
        time.sleep(1.5)
        status, answer = post(server, uploads_url(instance, path="/tmp"), multipart_body(("t", b"t")))
        assert (status, answer["error"]) == (429, "too_many_uploads")
        stalled.join()
    finally:
        stop_daphne(server)


def test_names_and_paths_are_never_run_as_commands(instance: dict[str, Any], daphne: Daphne) -> None:
    path = "/tmp/$(touch /tmp/pwned)`touch /tmp/pwned2`"
    status, answer = post(daphne, uploads_url(instance, path=path), multipart_body(("../../etc/;x'$(id)", b"z")))
    assert status == 200, answer
    assert answer["files"][0]["path"] == f"{path}/;x'$(id)"
    assert sh(instance, "ls /tmp/pwned /tmp/pwned2 2>&1; ls /etc/\\;x* 2>&1")[0] != 0
    assert sh(instance, "ls -A /tmp | wc -l")[1].strip() == "1"


@pytest.mark.parametrize(
    ("query", "body", "status", "code"),
    [
        ({"path": "/tmp/"}, b"no file", 400, "bad_request"),
        ({"path": "/tmp"}, b"a folder", 422, "file_error"),
        ({"path": "/tmp"}, multipart_body()[:-4], 400, "bad_request"),
        ({"path": "/tmp"}, multipart_body(("cut", b"c" * 100_000))[:-10], 400, "bad_request"),
        # The first file was whole, the second cut: neither is put in place.
        ({"path": "/tmp"}, multipart_body(("one", b"1"), ("two", b"2" * 100_000))[:-10], 400, "bad_request"),
        ({"path": "/tmp/a\0b"}, multipart_body(("a", b"a")), 400, "bad_request"),
        ({"path": "/tmp"}, multipart_body(*[(f"f{n}", b"") for n in range(21)]), 400, "bad_request"),
        ({"path": "/etc/hostname/sub"}, multipart_body(("a", b"a")), 422, "file_error"),
        ({"path": "/tmp", "url": "http://127.0.0.1:1/x"}, b"", 403, "fetch_not_allowed"),
    ],
)
def test_bad_uploads_get_a_clear_4xx(
    instance: dict[str, Any], daphne: Daphne, query: dict[str, str], body: bytes, status: int, code: str
) -> None:
    answer = post(daphne, uploads_url(instance, **query), body, multipart=body.startswith(b"--"))
    assert (answer[0], answer[1]["error"]) == (status, code), answer
    assert "Traceback" not in daphne.log.read_text()
    assert sh(instance, "ls -A /tmp")[1] == ""


def test_a_boundary_the_parser_refuses_gets_400(instance: dict[str, Any], daphne: Daphne) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", daphne.port, timeout=30)
    try:
        headers = {"Content-Type": f"multipart/form-data; boundary={'a' * 300}"}
        connection.request("POST", uploads_url(instance, path="/tmp"), body=b"x" * 1000, headers=headers)
        response = connection.getresponse()
        assert (response.status, json.loads(response.read())["error"]) == (400, "bad_request")
    finally:
        connection.close()
    assert "Traceback" not in daphne.log.read_text()


def test_an_encoded_slash_does_not_make_another_route_take_an_upload_sized_body(daphne: Daphne) -> None:
    # %2F is a slash once decoded: not the upload route, so the 1 MiB limit of every other route holds.
    with socket.create_connection(("127.0.0.1", daphne.port), timeout=10) as sock:
        request = "POST /sessions/x%2Fy/instances/z/uploads HTTP/1.1\r\nHost: localhost\r\n"
        request += f"Content-Type: application/octet-stream\r\nContent-Length: {300 * MB}\r\n\r\n"
        sock.sendall(request.encode())
        assert sock.recv(65536).startswith(b"HTTP/1.1 413 ")


def test_unknown_instances_get_404(instance: dict[str, Any], daphne: Daphne) -> None:
    path = f"/sessions/{instance['session_id']}/instances/nope/uploads?path=/tmp"
    assert post(daphne, path, multipart_body(("a", b"a")))[0] == 404
    assert post(daphne, "/sessions/nope/instances/nope/uploads", multipart_body(("a", b"a")))[0] == 404


class Files(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        body = b"fetched\n" * 1000
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_it_fetches_a_url_from_an_allowed_host(instance: dict[str, Any], live: Playground, tmp_path: Path) -> None:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Files)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    host = f"127.0.0.1:{httpd.server_address[1]}"
    server = start_daphne(tmp_path / "fetch.log", FETCH_ALLOWED_HOSTS=host)
    try:
        status, answer = post(server, uploads_url(instance, url=f"http://{host}/dir/app.tar", path="/tmp"), b"")
    finally:
        stop_daphne(server)
        httpd.shutdown()
    assert (status, answer["files"]) == (200, [{"path": "/tmp/app.tar", "bytes": 8000}])
    assert sh(instance, "wc -c < /tmp/app.tar")[1].strip() == "8000"
