"""What the engine keeps for a sandbox on the host's own disk cannot be grown from inside it."""

import os

from engine import daemon
from sessions.models import Playground
from tests.conftest import Api, sh


def test_it_keeps_etc_hosts_on_the_sandboxs_own_disk(live: Playground, api: Api) -> None:
    node = api.add(api.start())
    container = daemon.default().client().api.inspect_container(node["name"])
    code, output = sh(node, "dd if=/dev/zero of=/etc/hosts bs=1M count=20 oflag=append conv=notrunc 2>&1")
    assert code == 0, output
    for key in ("HostsPath", "ResolvConfPath", "HostnamePath"):
        assert os.path.getsize(container[key]) < 4096, key
    assert sh(node, "getent hosts node1 >/dev/null; wc -c < /etc/hosts")[1].strip() != "0"


def test_it_masks_what_tells_of_other_sandboxes_and_the_kernels_layout(live: Playground, api: Api) -> None:
    node = api.add(api.start())
    assert sh(node, "ls /sys/block /sys/devices/virtual/block") == (0, "/sys/block:\n\n/sys/devices/virtual/block:\n")
    assert sh(node, "cat /sys/kernel/vmcoreinfo")[1].strip() == ""
