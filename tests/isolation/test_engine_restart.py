"""Restarting the sandbox engine (an upgrade) loses nothing; a sandbox that stopped anyway is started again."""

import subprocess
import time

from engine import daemon
from sessions import reconcile
from sessions.models import Playground
from tests.conftest import Api, restart_engine, sh


def started_at(name: str) -> str:
    return str(daemon.default().client().api.inspect_container(name)["State"]["StartedAt"])


def host_links() -> set[str]:
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=True).stdout
    return {line.split(": ")[1].split("@")[0] for line in out.splitlines()}


def test_it_keeps_sandboxes_running_through_an_engine_restart(live: Playground, api: Api, mirror: str) -> None:
    session_id = api.start()
    node = api.add(session_id)
    assert sh(node, "docker run -d --restart always --name keep busybox sleep 1d")[0] == 0
    before = started_at(node["name"])
    links = host_links()

    restart_engine()

    assert started_at(node["name"]) == before
    # Another engine's bridge (the machine's own docker0, say) is left alone.
    assert host_links() >= links - {"pg-engine0"}
    assert sh(node, "docker inspect -f '{{.State.Running}}' keep") == (0, "true\n")
    assert api.get(session_id)["instances"][node["name"]]["state"] == "running"


def test_it_starts_a_stopped_sandbox_again_with_its_disk(live: Playground, api: Api, mirror: str) -> None:
    session_id = api.start()
    node = api.add(session_id)
    assert sh(node, "echo kept > /root/note && docker run -d --restart always --name keep busybox sleep 1d")[0] == 0
    # What a host reboot does to it.
    daemon.default().client().api.stop(node["name"], timeout=1)

    reconcile.sweep()

    assert daemon.default().client().api.inspect_container(node["name"])["State"]["Running"]
    assert sh(node, "cat /root/note") == (0, "kept\n")
    # The inner dockerd starts again first: on a loaded two-core host (the whole suite) that took over 30 s once.
    deadline = time.monotonic() + 90
    while sh(node, "docker inspect -f '{{.State.Running}}' keep")[1] != "true\n":
        assert time.monotonic() < deadline, "the inner container did not come back"
        time.sleep(0.5)
