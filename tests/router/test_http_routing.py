"""Plain HTTP through the router: to a port published inside an instance, and refused unless the name is true."""

from __future__ import annotations

import socket
import subprocess
import time
from typing import Any

from django.conf import settings
from django.test import Client

from engine.names import direct_host
from sessions.models import Playground
from tests.conftest import Api, sh
from tests.router.conftest import with_busybox


def curl(url: str, *args: str) -> tuple[str, str]:
    """Fetch a URL (curl resolves *.localhost to loopback itself); return the status and the body."""
    done = subprocess.run(
        ["curl", "-s", "-m", "20", "-w", "\n%{http_code}", *args, url], capture_output=True, text=True, timeout=30
    )
    body, _, status = done.stdout.rpartition("\n")
    return status, body


def url(proxy_host: str, router_port: int, port: int | None = None, path: str = "/") -> str:
    host = direct_host(proxy_host, port, settings.PLAYGROUND_DOMAIN) if port else f"{proxy_host}.direct.localhost"
    return f"http://{host}:{router_port}{path}"


def serve_web(instance: dict[str, Any], published: int) -> None:
    """Run busybox httpd in a container inside the instance, published on the instance's port."""
    with_busybox(instance)
    script = "head -c 8000000 /dev/urandom > /www/big && sha256sum /www/big > /www/big.sha256 && httpd -f -p 80 -h /www"
    code, output = sh(instance, f"docker run -d -p {published}:80 busybox sh -c '{script}'")
    assert code == 0, output
    for _ in range(50):
        if sh(instance, f"curl -sf -o /dev/null http://127.0.0.1:{published}/big.sha256")[0] == 0:
            return
        time.sleep(0.1)
    raise AssertionError("httpd did not start inside the instance")


def test_it_serves_a_port_published_inside_an_instance(live: Playground, api: Api, router_port: int) -> None:
    instance = api.add(api.start())
    serve_web(instance, 8080)
    assert curl(url(instance["proxy_host"], router_port, 8080)) == ("200", "hello-from-the-instance\n")


def test_it_streams_long_responses_whole(live: Playground, api: Api, router_port: int, tmp_path: Any) -> None:
    instance = api.add(api.start())
    serve_web(instance, 8080)
    _, expected = curl(url(instance["proxy_host"], router_port, 8080, "/big.sha256"))
    status, _ = curl(url(instance["proxy_host"], router_port, 8080, "/big"), "-o", str(tmp_path / "big"))
    digest = subprocess.run(["sha256sum", str(tmp_path / "big")], capture_output=True, text=True).stdout.split()[0]
    assert (status, digest) == ("200", expected.split()[0])


def test_it_defaults_to_port_80(live: Playground, api: Api, router_port: int) -> None:
    instance = api.add(api.start())
    serve_web(instance, 80)
    assert curl(url(instance["proxy_host"], router_port)) == ("200", "hello-from-the-instance\n")


def test_it_refuses_the_address_with_another_sessions_id(live: Playground, api: Api, router_port: int) -> None:
    instance = api.add(api.start())
    other_session = api.start()
    serve_web(instance, 8080)
    forged = f"ip{instance['ip'].replace('.', '-')}-{other_session}"
    status, body = curl(url(forged, router_port, 8080))
    assert status == "404"
    assert "No running instance of a live session" in body


def test_it_refuses_instances_of_ended_sessions(live: Playground, api: Api, client: Client, router_port: int) -> None:
    session_id = api.start()
    instance = api.add(session_id)
    client.delete(f"/sessions/{session_id}")
    assert curl(url(instance["proxy_host"], router_port, 8080))[0] == "404"


def test_it_answers_502_at_once_when_nothing_listens(live: Playground, api: Api, router_port: int) -> None:
    instance = api.add(api.start())
    started = time.monotonic()
    status, body = curl(url(instance["proxy_host"], router_port, 8999))
    assert (status, "Nothing answers on port 8999" in body) == ("502", True)
    assert time.monotonic() - started < 5


def raw(router_port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", router_port), timeout=10) as conn:
        conn.sendall(request)
        return conn.recv(4096)


def test_it_refuses_names_it_does_not_serve(live: Playground, router_port: int) -> None:
    answer = raw(router_port, b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 404 Not Found\r\n")
    assert b"is not an instance address" in answer


def test_it_asks_for_a_host_header(live: Playground, router_port: int) -> None:
    assert raw(router_port, b"GET / HTTP/1.0\r\n\r\n").startswith(b"HTTP/1.1 400 Bad Request\r\n")
