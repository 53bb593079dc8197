"""The kernel's host-wide settings stay out of reach, even after remounting what holds them."""

from pathlib import Path

import pytest

from sessions.models import Playground
from tests.conftest import Api, sh


@pytest.fixture
def node(live: Playground, api: Api) -> dict[str, str]:
    return api.add(api.start())


def test_it_refuses_core_pattern_even_after_a_remount(node: dict[str, str]) -> None:
    assert sh(node, "echo core > /proc/sys/kernel/core_pattern")[0] != 0
    sh(node, "mount -o remount,rw,bind /proc/sys/kernel; mount -o remount,rw /proc/sys; mount -o remount,rw /proc")
    code, output = sh(node, "echo '|/tmp/x' > /proc/sys/kernel/core_pattern")
    assert code != 0, output
    assert "|/tmp/x" not in Path("/proc/sys/kernel/core_pattern").read_text()


def test_it_refuses_sysfs_and_sysrq_writes(node: dict[str, str]) -> None:
    sh(node, "mount -o remount,rw /sys")
    assert sh(node, "echo 1 > /sys/kernel/mm/ksm/run")[0] != 0
    assert sh(node, "echo b > /proc/sysrq-trigger")[0] != 0
    assert sh(node, "echo 3 > /proc/sys/vm/drop_caches")[0] != 0


def test_it_lets_the_inner_engine_set_its_own_network(node: dict[str, str]) -> None:
    code, output = sh(node, "echo 1 > /proc/sys/net/ipv4/ip_forward && cat /proc/sys/net/ipv4/ip_forward")
    assert (code, output.strip()) == (0, "1")
