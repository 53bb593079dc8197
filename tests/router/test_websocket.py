"""A WebSocket served inside an instance works through the router."""

from __future__ import annotations

import socket
from pathlib import Path

from websockets.sync.client import connect

from engine.names import direct_host
from sessions.models import Playground
from tests.conftest import Api, sh

ECHO_SERVER = (Path(__file__).parent / "ws_echo.sh").read_text()


def test_a_websocket_echo_answers_through_the_router(live: Playground, api: Api, router_port: int) -> None:
    instance = api.add(api.start())
    install = f"cat > /root/ws.sh <<'SCRIPT'\n{ECHO_SERVER}SCRIPT\nchmod +x /root/ws.sh"
    assert sh(instance, install)[0] == 0
    serve = "setsid busybox nc -ll -p 8081 -e /root/ws.sh </dev/null >/dev/null 2>&1 &"
    wait = "until busybox netstat -ltn | grep -q ':8081 '; do sleep 0.1; done"
    assert sh(instance, f"{serve} {wait}")[0] == 0

    host = direct_host(instance["proxy_host"], 8081, "localhost")
    sock = socket.create_connection(("127.0.0.1", router_port), timeout=10)
    with connect(f"ws://{host}:{router_port}/", sock=sock, open_timeout=10) as websocket:
        for text in ("hello", "through the router", "and back again"):
            websocket.send(text)
            assert websocket.recv(timeout=10) == text
