"""The sandbox's limits are the host's to set: a learner can neither lift them nor escape them."""

from pathlib import Path

import pytest
from django.test import override_settings

from sessions.models import Playground
from tests.conftest import Api, sh

# Each pair: a limit file as the sandbox sees it (cgroup v1, then v2), and a value that would lift the limit.
LIMITS = [
    ("/sys/fs/cgroup/pids/pids.max", "/sys/fs/cgroup/pids.max", "max"),
    ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory.max", "max"),
    ("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "/sys/fs/cgroup/cpu.max", "-1"),
]


@pytest.fixture
def node(live: Playground, api: Api) -> dict[str, str]:
    return api.add(api.start())


@pytest.mark.parametrize(("v1", "v2", "value"), LIMITS)
def test_it_refuses_to_lift_a_limit(node: dict[str, str], v1: str, v2: str, value: str) -> None:
    path = v1 if Path("/sys/fs/cgroup/memory").is_dir() else v2
    _, before = sh(node, f"cat {path}")
    sh(node, "for d in /sys/fs/cgroup /sys/fs/cgroup/*/; do mount -o remount,rw $d; done 2>/dev/null")
    code, output = sh(node, f"echo {value} > {path}")
    assert code != 0, output
    assert sh(node, f"cat {path}")[1] == before


def test_it_stops_a_fork_bomb_at_the_pids_limit(live: Playground, api: Api) -> None:
    live.pids_limit = 300
    live.save()
    node = api.add(api.start())
    # In a PID namespace of its own, so that killing its first process ends every fork of it.
    bomb = "timeout -s KILL 10 unshare --fork --pid --kill-child bash -c 'b() { b | b & }; b' 2>/dev/null; sleep 1"
    sh(node, bomb)
    code, peak = sh(node, "cat /sys/fs/cgroup/pids/pids.peak 2>/dev/null || cat /sys/fs/cgroup/pids.peak")
    assert code == 0
    assert int(peak) <= live.pids_limit
    # The sandbox itself is usable again once the bomb is gone.
    assert sh(node, "echo alive") == (0, "alive\n")


def test_it_fills_its_own_disk_only(live: Playground, api: Api) -> None:
    with override_settings(SANDBOX_DISK_MB=512):
        node = api.add(api.start())
    _, df = sh(node, "df -m --output=size / /var/lib/docker | tail -2")
    assert [int(size) for size in df.split()] == [pytest.approx(496, abs=24)] * 2
    code, output = sh(node, "dd if=/dev/zero of=/fill bs=1M 2>&1")
    assert code != 0
    assert "No space left on device" in output
    code, output = sh(node, "dd if=/dev/zero of=/var/lib/docker/fill bs=1M count=10 2>&1")
    assert "No space left on device" in output
    # Deleting gives the space back.
    assert sh(node, "rm /fill /var/lib/docker/fill && dd if=/dev/zero of=/ok bs=1M count=100 2>&1")[0] == 0
