"""Requests per second through the direct router, against the same web server reached directly.

Run: .venv/bin/python bench/router_throughput.py [seconds]  (needs Debian's wrk; uses loopback and its own instance)
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as bench/router_throughput.py
from bench.measure import cpu_ticks, free_port  # noqa: E402
from bench.start import ROOT, one_instance, read_only_mirror, start_django  # noqa: E402

start_django()

from django.conf import settings  # noqa: E402

from engine import execs  # noqa: E402
from engine.daemon import default  # noqa: E402
from engine.names import direct_host  # noqa: E402
from sessions.models import Instance  # noqa: E402

ROUNDS = 3
# A closed connection waits 60 s in TIME_WAIT on the side that closed first, and a client reuses none of its ~28k
# ephemeral ports toward one address and port meanwhile (another published port is no way out: the instance's
# NAT then maps two connections onto the same tuple and drops the second SYN). At thousands of connections per
# second, a run that follows another too soon measures that limit, not the router: such runs first wait for the
# machine to forget the connections of the one before.
QUIET_TIME_WAITS = 1000
# An image made inside the instance from the sandbox's own busybox-static, with an applet link for each command.
BUILD_BUSYBOX = (
    "mkdir -p /tmp/bb/bin /tmp/bb/www && cp /bin/busybox /tmp/bb/bin/ && "
    "for applet in $(/bin/busybox --list | grep -vx busybox); do ln -sf busybox /tmp/bb/bin/$applet; done && "
    "echo hello-from-the-instance > /tmp/bb/www/index.html && "
    "tar -C /tmp/bb -c . | docker import - busybox >/dev/null"
)
SERVE = (
    "docker run -d -p 8080:80 busybox sh -c "
    "'head -c 1048576 /dev/urandom > /www/1m && httpd -f -p 80 -h /www' >/dev/null && "
    "until curl -sf -o /dev/null http://127.0.0.1:8080/; do sleep 0.1; done"
)
# Pulled by the instance's engine from the project's mirror, as a learner's would be.
SERVE_NGINX = (
    "docker run -d -p 8081:80 nginx >/dev/null && "
    "until curl -sf -o /dev/null http://127.0.0.1:8081/; do sleep 0.1; done"
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


CLOSE = "Connection: close"  # wrk then opens a connection per request, as a client without keep-alive does
CASES = [  # label, port in the instance, path, connections, extra header, column (0 req/s, 1 MB/s), reconnects
    ("perl keep-alive server (a process per connection), 16 connections, req/s", 8090, "/", 16, None, 0, False),
    ("nginx, keep-alive, 16 connections, req/s", 8081, "/", 16, None, 0, False),
    ("nginx, a connection per request, 16 connections, req/s", 8081, "/", 16, CLOSE, 0, True),
    ("busybox httpd (a connection per request), 16 connections, req/s", 8080, "/", 16, None, 0, True),
    ("busybox httpd, 1 MiB file, 4 connections, MB/s", 8080, "/1m", 4, None, 1, True),
]


def wrk(url: str, host: str, seconds: int, connections: int, header: str | None) -> tuple[float, float, float]:
    """Return requests/s and MB/s that wrk measured, and how many cores the machine kept busy meanwhile."""
    extra = ["-H", header] if header else []
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "-H", f"Host: {host}", *extra, url]
    busy, total = cpu_ticks()
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    busy_after, total_after = cpu_ticks()
    if "Non-2xx" in out:
        raise SystemExit(f"{url} (Host: {host}) answered with errors:\n{out}")
    requests = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    size, unit = re.search(r"Transfer/sec:\s+([\d.]+)(\w+)", out).groups()  # type: ignore[union-attr]
    scale = {"B": 1e-6, "KB": 1e-3, "MB": 1, "GB": 1e3}[unit]
    cores = (os.cpu_count() or 1) * (busy_after - busy) / max(total_after - total, 1)
    return requests, float(size) * scale * 1.048576, cores


def wait_for_quiet(ip: str) -> None:
    """Wait, at most a minute, until few connections to ip (direct or through the router) linger in TIME_WAIT."""
    command = ["ss", "-Htn", "state", "time-wait", "dst", ip]
    for _ in range(65):
        if subprocess.run(command, capture_output=True, text=True, check=True).stdout.count("\n") < QUIET_TIME_WAITS:
            return
        time.sleep(1)


def wait_listening(port: int) -> None:
    for _ in range(100):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit("the router did not start")


@contextmanager
def serving_instance() -> Iterator[Instance]:
    """Start an instance serving the benchmark's web servers; end its session on the way out."""
    with ExitStack() as stack:
        # The instance's engine is told the mirror's port when it is made, and pulls nginx from it.
        with read_only_mirror():
            instance = stack.enter_context(one_instance())
            script = f"{BUILD_BUSYBOX} && {SERVE} && {SERVE_KEEPALIVE} && {SERVE_NGINX}"
            code, output = execs.exec_run(default(), instance.name, ["sh", "-c", script])
        if code != 0:
            raise SystemExit(output.decode())
        yield instance


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("seconds", type=int, nargs="?", default=10, help="length of each wrk run")
    seconds = parser.parse_args().seconds
    if not shutil.which("wrk"):
        raise SystemExit("install wrk first: apt-get install wrk")
    with serving_instance() as instance:
        port = free_port()
        router = subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), "run_router", "--bind", "127.0.0.1", "--port", str(port)],
            stdout=subprocess.DEVNULL,
        )
        try:
            measure(instance, port, seconds)
        finally:
            router.terminate()
            router.wait(timeout=10)


def measure(instance: Instance, port: int, seconds: int) -> None:
    """Run every case direct and through the router on port, alternately; print a table of medians."""
    wait_listening(port)
    load = ", ".join(f"{figure:.2f}" for figure in os.getloadavg())
    print(f"{time.strftime('%Y-%m-%d %H:%M %Z')}, load average {load}, {os.cpu_count()} cores")
    print(f"router in {settings.ROUTER_PROCESSES} processes; wrk -t2, {seconds} s runs, median of {ROUNDS}")
    print("| case | direct | through the router | ratio | busy cores, direct / routed |")
    print("|---|---|---|---|---|")
    for label, upstream, path, connections, header, column, reconnects in CASES:
        name = f"{direct_host(instance.proxy_host, upstream, settings.PLAYGROUND_DOMAIN)}:{port}"
        direct: list[tuple[float, float, float]] = []
        routed: list[tuple[float, float, float]] = []
        # Interleaved rounds, so load from other processes on the machine weighs on both sides alike.
        for _ in range(ROUNDS):
            for runs, url, host in (
                (direct, f"http://{instance.ip}:{upstream}{path}", str(instance.ip)),
                (routed, f"http://127.0.0.1:{port}{path}", name),
            ):
                if reconnects:
                    wait_for_quiet(str(instance.ip))
                runs.append(wrk(url, host, seconds, connections, header))
        a, b = (statistics.median(r[column] for r in runs) for runs in (direct, routed))
        busy_a, busy_b = (statistics.median(r[2] for r in runs) for runs in (direct, routed))
        print(f"| {label} | {a:.0f} | {b:.0f} | {b / a:.2f} | {busy_a:.1f} / {busy_b:.1f} |")


if __name__ == "__main__":
    main()
