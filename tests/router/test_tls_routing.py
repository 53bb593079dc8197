"""TLS through the router: passed through unterminated to the instance SNI names, else closed at once."""

from __future__ import annotations

import socket
import ssl
import time

import pytest

from engine.names import direct_host
from sessions.models import Playground
from tests.conftest import Api, sh

SERVE_TLS = (
    "cd /tmp && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=inside "
    "-keyout key.pem -out cert.pem 2>/dev/null && "
    "(setsid openssl s_server -accept {port} -cert cert.pem -key key.pem -www </dev/null >/dev/null 2>&1 &) && "
    "until busybox netstat -ltn | grep -q ':{port} '; do sleep 0.1; done"
)


def handshake(router_port: int, server_name: str | None) -> ssl.SSLSocket:
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    raw = socket.create_connection(("127.0.0.1", router_port), timeout=10)
    return context.wrap_socket(raw, server_hostname=server_name)


def test_it_passes_tls_through_to_the_named_port(live: Playground, api: Api, router_port: int) -> None:
    instance = api.add(api.start())
    assert sh(instance, SERVE_TLS.format(port=4433))[0] == 0
    with handshake(router_port, direct_host(instance["proxy_host"], 4433, "localhost")) as tls:
        # The certificate is the one made inside the instance: the router never terminated TLS.
        certificate = ssl.DER_cert_to_PEM_cert(tls.getpeercert(binary_form=True) or b"")
        tls.sendall(b"GET / HTTP/1.0\r\n\r\n")
        answer = tls.recv(100)
    assert answer.startswith(b"HTTP/1.0 200 ok")
    code, inside = sh(instance, "cat /tmp/cert.pem")
    assert certificate.split() == inside.split()


def test_it_defaults_to_port_443(live: Playground, api: Api, router_port: int) -> None:
    instance = api.add(api.start())
    assert sh(instance, SERVE_TLS.format(port=443))[0] == 0
    with handshake(router_port, f"{instance['proxy_host']}.direct.localhost") as tls:
        tls.sendall(b"GET / HTTP/1.0\r\n\r\n")
        assert tls.recv(100).startswith(b"HTTP/1.0 200 ok")


@pytest.mark.parametrize("server_name", ["ip10-0-0-1-nosuchsession-443.direct.localhost", "example.com", None])
def test_it_closes_tls_it_cannot_route_at_once(live: Playground, router_port: int, server_name: str | None) -> None:
    started = time.monotonic()
    with pytest.raises((ssl.SSLError, ConnectionError)):
        handshake(router_port, server_name)
    assert time.monotonic() - started < 5
