"""The figures of `instance stats`: PWD's strings and our numbers, from the engine's counters (pure logic)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from engine.usage import Usage, parse
from terminals.stats import event, size

MiB = 1024 * 1024
GiB = 1024 * MiB


def counters(**changed: int) -> Usage:
    values = dict(cpu_ns=0, system_ns=0, cpus=2, memory=100 * MiB, memory_limit=2 * GiB, rx=0, tx=0)
    return Usage(**{**values, **changed})


def test_it_counts_cpu_as_docker_stats_does() -> None:
    # Half of the host's two cores' time: one core's worth, 100%.
    before, after = (0.0, counters()), (3.0, counters(cpu_ns=3 * 10**9, system_ns=6 * 10**9))
    figures = event("node1", before, after)
    assert figures["cpu"] == "100.00%"
    assert figures["cpu_percent"] == 100.0


def test_it_writes_memory_as_pwd_did() -> None:
    figures = event("node1", (0.0, counters()), (3.0, counters(memory=97 * MiB + 512 * 1024)))
    assert figures["mem"] == "4.76% (97.5MiB / 2GiB)"
    assert figures["mem_bytes"] == 97 * MiB + 512 * 1024
    assert figures["mem_limit_bytes"] == 2 * GiB
    assert re.fullmatch(r"\d+\.\d\d% \(\S+ / \S+\)", str(figures["mem"]))


def test_it_gives_network_rates_per_second() -> None:
    figures = event("node1", (10.0, counters(rx=1000, tx=50)), (12.0, counters(rx=5000, tx=250)))
    assert (figures["rx_bytes_per_second"], figures["tx_bytes_per_second"]) == (2000, 100)


def test_counters_that_went_back_count_as_nothing_moved() -> None:
    # The sandbox restarted between two samples: its counters started again from zero.
    before = (0.0, counters(cpu_ns=9 * 10**9, system_ns=10**9, rx=10**6, tx=10**6))
    after = (3.0, counters(cpu_ns=10**6, system_ns=2 * 10**9, rx=10, tx=10))
    figures = event("node1", before, after)
    assert (figures["cpu_percent"], figures["rx_bytes_per_second"], figures["tx_bytes_per_second"]) == (0, 0, 0)


def test_cpu_never_reads_more_than_every_core() -> None:
    figures = event("node1", (0.0, counters()), (3.0, counters(cpu_ns=10**12, system_ns=1)))
    assert figures["cpu_percent"] == 200.0


@pytest.mark.parametrize(
    ("count", "written"),
    [(0, "0B"), (1023, "1023B"), (1024, "1KiB"), (1536, "1.5KiB"), (47_318_016, "45.13MiB"), (2 * GiB, "2GiB")],
)
def test_it_writes_sizes_as_go_units_does(count: int, written: str) -> None:
    assert size(count) == written


def engine_answer(**memory: Any) -> dict[str, Any]:
    return {
        "cpu_stats": {"cpu_usage": {"total_usage": 5}, "system_cpu_usage": 7, "online_cpus": 2},
        "memory_stats": {"usage": 300, "limit": 1000, "stats": {"total_inactive_file": 100}, **memory},
        "networks": {"eth0": {"rx_bytes": 11, "tx_bytes": 13}, "eth1": {"rx_bytes": 100, "tx_bytes": 200}},
    }


def test_it_reads_the_engines_counters() -> None:
    # Memory less the page cache the kernel may drop; the network of every interface the engine made.
    assert parse(engine_answer()) == Usage(cpu_ns=5, system_ns=7, cpus=2, memory=200, memory_limit=1000, rx=111, tx=213)


def test_a_stopped_sandbox_has_no_counters() -> None:
    assert parse({"memory_stats": {}, "cpu_stats": {}}) is None
    assert parse({}) is None


def test_counters_that_are_not_counts_are_read_as_zero() -> None:
    odd = engine_answer(usage=-5, stats={"total_inactive_file": "lots"})
    odd["cpu_stats"] = {"cpu_usage": [], "system_cpu_usage": True, "online_cpus": 2**70}
    odd["networks"] = {"eth0": "down", "eth1": {"rx_bytes": 1.5, "tx_bytes": None}}
    assert parse(odd) == Usage(cpu_ns=0, system_ns=0, cpus=1, memory=0, memory_limit=1000, rx=0, tx=0)
