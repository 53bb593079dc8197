"""A learner is root in their sandbox, not on the host: the host's disk cannot be reached through a device."""

from sessions.models import Playground
from tests.conftest import Api, sh


def test_it_refuses_a_device_node_for_the_hosts_disk(live: Playground, api: Api) -> None:
    node = api.add(api.start())
    code, output = sh(node, "echo 'b 254:0 rw' > /sys/fs/cgroup/devices/devices.allow")
    assert code != 0, output
    code, output = sh(node, "mknod /tmp/vda b 254 0 && mount -t ext4 /tmp/vda /mnt")
    assert code != 0, output
    assert "not permitted" in output


def test_it_maps_the_sandboxs_root_to_an_unprivileged_host_user(live: Playground, api: Api) -> None:
    node = api.add(api.start())
    _, uid_map = sh(node, "cat /proc/self/uid_map")
    inside, outside, _ = uid_map.split()
    assert (inside, outside != "0") == ("0", True)


def test_it_refuses_the_inner_engine_a_privileged_container_on_the_host(
    live: Playground, api: Api, mirror: str
) -> None:
    node = api.add(api.start())
    code, output = sh(node, "docker run --rm --privileged -v /:/host busybox cat /host/proc/1/environ")
    assert code != 0, output
