"""An instance whose engine answers slowly, with garbage, or not at all delays no one else's ports.

The learner is root in the instance and may put anything on the engine's port; the platform follows the ports of
every viewed instance from its event stream, all in one web process, so one such instance must cost the others
nothing.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from asgiref.sync import sync_to_async

from sessions.models import Playground
from tests.conftest import Api, sh
from tests.router.conftest import with_busybox
from tests.terminals.conftest import publish_web

STOP_ENGINE = "kill $(ps -o ppid= -C dockerd); pkill -x dockerd; while pgrep -x dockerd >/dev/null; do sleep 0.1; done"
# Port 2375 (0x0947) listening, in the kernel's table.
LISTENING = (
    "for _ in $(seq 50); do grep -q ':0947 0*:0000 0A' /proc/net/tcp /proc/net/tcp6 && exit 0; sleep 0.1; done; exit 1"
)
TLS = "openssl s_server -quiet -accept 2375 -cert /etc/docker/tls/cert.pem -key /etc/docker/tls/key.pem"
FAKE_ENGINES = {
    # Takes the connection, never starts TLS.
    "silent": "busybox nc -ll -p 2375 -e sleep 3600",
    # Completes TLS with the real certificate, then never answers.
    "mute": f"sleep 3600 | {TLS}",
    # An answer whose headers never end.
    "endless headers": f'yes "HTTP/1.0 200 OK" | {TLS}',
    # An event stream that never stops ringing.
    "flooding": f'(printf "HTTP/1.0 200 OK\\r\\n\\r\\n"; yes) | {TLS}',
    # Not HTTP at all.
    "garbage": f"head -c 100000000 /dev/urandom | {TLS}",
}


async def loop_lag(until: asyncio.Event) -> float:
    """Return the longest the event loop kept a 10 ms timer waiting beyond its time."""
    worst = 0.0
    while not until.is_set():
        before = time.monotonic()
        await asyncio.sleep(0.01)
        worst = max(worst, time.monotonic() - before - 0.01)
    return worst


async def test_an_instance_with_a_fake_engine_delays_no_one_elses_ports(
    live: Playground, api: Api, viewing: Any
) -> None:
    hostile = []
    for name, fake in FAKE_ENGINES.items():
        instance = await sync_to_async(api.add)(await sync_to_async(api.start)())
        start = f"(setsid sh -c '{fake}' >/tmp/fake.log 2>&1 &)"
        script = f"{STOP_ENGINE}; {start}; ({LISTENING}) || (head -c 3000 /tmp/fake.log; exit 1)"
        code, output = await sync_to_async(sh)(instance, script)
        assert code == 0, f"{name}: {output}"
        hostile.append(instance)
    honest = await sync_to_async(api.add)(await sync_to_async(api.start)())
    await sync_to_async(with_busybox)(honest)

    done = asyncio.Event()
    lag = asyncio.create_task(loop_lag(done))
    for instance in hostile:
        await viewing(instance)
    viewer = await viewing(honest)
    await viewer.until([])
    await asyncio.sleep(6)  # past the fakes' first deadlines, into their retries

    await sync_to_async(publish_web)(honest, "8080:80")
    published = time.monotonic()
    assert await viewer.until([8080]) - published < 5
    done.set()
    assert await lag < 0.2, "the web process's loop was kept busy"
