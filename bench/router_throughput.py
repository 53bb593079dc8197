"""Requests per second through the direct router, against the same web server reached directly.

Run: .venv/bin/python bench/router_throughput.py [seconds]  (needs Debian's wrk; uses loopback and its own instance)
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "playground.settings")
os.environ["SANDBOX_DEPLOYMENT"] = f"bench-{os.getpid()}"

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

from router.hostnames import direct_host  # noqa: E402
from sessions import engine, sandboxes  # noqa: E402
from sessions.models import Instance, Playground  # noqa: E402
from tests.router.conftest import BUILD_BUSYBOX  # noqa: E402

SERVE = (
    "docker run -d -p 8080:80 busybox sh -c "
    "'head -c 1048576 /dev/urandom > /www/1m && httpd -f -p 80 -h /www' >/dev/null && "
    "until curl -sf -o /dev/null http://127.0.0.1:8080/; do sleep 0.1; done"
)


# busybox httpd answers one request per connection; web apps mostly keep connections alive. This one does,
# with a process per connection, in the perl of the sandbox image (no other image is at hand without a registry).
KEEPALIVE_SERVER = r"""
use IO::Socket::INET;
$SIG{CHLD} = "IGNORE";
my $server = IO::Socket::INET->new(LocalPort => 8090, Listen => 256, ReuseAddr => 1) or die $!;
while (my $client = $server->accept) {
    if (fork) { close $client; next }
    close $server;
    $client->autoflush(1);
    while (defined(my $line = <$client>)) {
        next unless $line eq "\r\n";
        print $client "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nhello\n";
    }
    exit 0;
}
"""
SERVE_KEEPALIVE = (
    f"cat > /tmp/keepalive.pl <<'PERL'\n{KEEPALIVE_SERVER}PERL\n"
    "(setsid perl /tmp/keepalive.pl </dev/null >/dev/null 2>&1 &) && "
    "until curl -sf -o /dev/null http://127.0.0.1:8090/; do sleep 0.1; done"
)


ROUNDS = 3
CASES = [  # label, port in the instance, path, connections, column of wrk's figures (0 req/s, 1 MB/s)
    ("keep-alive server, 16 connections, req/s", 8090, "/", 16, 0),
    ("busybox httpd (a connection per request), 16 connections, req/s", 8080, "/", 16, 0),
    ("busybox httpd, 1 MiB file, 4 connections, MB/s", 8080, "/1m", 4, 1),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wrk(url: str, host: str, seconds: int, connections: int) -> tuple[float, float]:
    """Return requests/s and transfer MB/s that wrk measured."""
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "-H", f"Host: {host}", url]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    requests = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    size, unit = re.search(r"Transfer/sec:\s+([\d.]+)(\w+)", out).groups()  # type: ignore[union-attr]
    scale = {"B": 1e-6, "KB": 1e-3, "MB": 1, "GB": 1e3}[unit]
    return requests, float(size) * scale * 1.048576


def wait_listening(port: int) -> None:
    for _ in range(100):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit("the router did not start")


def start_instance() -> Instance:
    playground = Playground.for_host(settings.PLAYGROUND_DOMAIN)
    session = sandboxes.start_session(playground)
    instance = sandboxes.add_instance(session, sandboxes.InstanceRequest())
    code, output = engine.exec_run(instance.name, ["sh", "-c", f"{BUILD_BUSYBOX} && {SERVE} && {SERVE_KEEPALIVE}"])
    if code != 0:
        raise SystemExit(output.decode())
    return instance


def main(seconds: int) -> None:
    if not shutil.which("wrk"):
        raise SystemExit("install wrk first: apt-get install wrk")
    instance = start_instance()
    port = free_port()
    router = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "run_router", "--bind", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_listening(port)
        print(f"| case (wrk -t2, {seconds}s runs, median of {ROUNDS}) | direct | through the router | ratio |")
        print("|---|---|---|---|")
        for label, upstream, path, connections, column in CASES:
            name = direct_host(instance.proxy_host, upstream, settings.PLAYGROUND_DOMAIN)
            direct, routed = [], []
            # Interleaved rounds, so load from other processes on the machine weighs on both sides alike.
            for _ in range(ROUNDS):
                direct.append(wrk(f"http://{instance.ip}:{upstream}{path}", str(instance.ip), seconds, connections))
                routed.append(wrk(f"http://127.0.0.1:{port}{path}", f"{name}:{port}", seconds, connections))
            a, b = (statistics.median(r[column] for r in runs) for runs in (direct, routed))
            print(f"| {label} | {a:.0f} | {b:.0f} | {b / a:.2f} |")
    finally:
        router.terminate()
        router.wait(timeout=10)
        sandboxes.end_session(instance.session, reason="benchmark done")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
