"""Sparse disks promise more than the host has: the sweep freezes the largest sandbox before the host runs out."""

from typing import Any

from engine import daemon
from sessions import capacity, reconcile
from sessions.models import Playground
from tests.conftest import Api, sh


def state(name: str) -> str:
    return str(daemon.default().client().api.inspect_container(name)["State"]["Status"])


def test_it_freezes_the_largest_sandbox_below_half_the_reserve(live: Playground, api: Api, settings: Any) -> None:
    small, large = api.add(api.start()), api.add(api.start())
    # Synced, so the blocks have reached its disk image on the host, not just the page cache.
    assert sh(large, "dd if=/dev/urandom of=/big bs=1M count=200 conv=fsync 2>&1")[0] == 0
    free = capacity.disk_free_mb(daemon.default().data_root())
    assert free is not None

    settings.SANDBOX_DISK_RESERVE_MB = 2 * free + 1024
    reconcile.sweep()
    assert (state(large["name"]), state(small["name"])) == ("paused", "running")
    assert api.add(api.start(), status=503)["error"] == "out_of_capacity"

    settings.SANDBOX_DISK_RESERVE_MB = 1024
    reconcile.sweep()
    assert state(large["name"]) == "running"
    assert sh(large, "ls -s /big")[0] == 0
