"""Measure the two hops the SSH gateway chains, each alone, against `docker exec`: what bounds the gateway.

Run from the project root: `.venv/bin/python bench/ssh_floor.py` (needs bin/setup; uses the dev database).
- ssh hop: OpenSSH's `ssh` to a bare asyncssh server, configured as the gateway, that echoes and streams zeros
  from memory: no Docker at all.
- engine hop: the engine's hijacked exec socket, read from Python exactly as the gateway does: no ssh at all.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncssh

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as bench/ssh_floor.py
from bench.measure import docker_argv  # noqa: E402
from bench.start import one_instance, start_django  # noqa: E402

start_django()

from bench.ssh_gateway import (  # noqa: E402
    ECHOES,
    ROUNDS,
    THROUGHPUT_BYTES,
    children_cpu_seconds,
    cpu_seconds,
    echo_round_trip,
    ssh_command,
    throughput,
)
from engine import streams  # noqa: E402
from engine.daemon import default  # noqa: E402
from gateway.server import CIPHERS  # noqa: E402

_ZEROS = bytes(256 * 1024)


class _BareSession(asyncssh.SSHServerSession[bytes]):
    """Echo input back (`cat`), or write `zero N` bytes, honouring the channel's flow control."""

    def __init__(self) -> None:
        self.chan: asyncssh.SSHServerChannel[bytes] | None = None
        self.command = ""
        self.can_write = asyncio.Event()
        self.can_write.set()
        self.task: asyncio.Task[None] | None = None

    def connection_made(self, chan: asyncssh.SSHServerChannel[bytes]) -> None:
        self.chan = chan

    def exec_requested(self, command: str) -> bool:
        self.command = command
        return True

    def session_started(self) -> None:
        if self.command.startswith("zero "):
            self.task = asyncio.create_task(self._zeros(int(self.command.split()[1])))

    async def _zeros(self, size: int) -> None:
        assert self.chan is not None
        while size > 0:
            await self.can_write.wait()
            self.chan.write(_ZEROS[:size])
            size -= len(_ZEROS)
        self.chan.exit(0)

    def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:
        assert self.chan is not None
        self.chan.write(data)

    def eof_received(self) -> bool:
        if self.chan and self.command == "cat":
            self.chan.exit(0)
        return True

    def pause_writing(self) -> None:
        self.can_write.clear()

    def resume_writing(self) -> None:
        self.can_write.set()


class _BareServer(asyncssh.SSHServer):
    def begin_auth(self, username: str) -> bool:
        return False  # anyone may enter: this server holds nothing

    def session_requested(self) -> _BareSession:
        return _BareSession()


async def serve() -> None:
    """Run the bare asyncssh server on a free loopback port, with the gateway's options, until killed."""
    logging.getLogger("asyncssh").setLevel(logging.WARNING)
    server = await asyncssh.create_server(
        _BareServer,
        "127.0.0.1",
        0,
        server_host_keys=[asyncssh.generate_private_key("ssh-ed25519")],
        encryption_algs=CIPHERS,
        encoding=None,
        line_editor=False,
    )
    print(f"listening on 127.0.0.1:{server.get_port()}", flush=True)
    await asyncio.Event().wait()


async def engine_echo(container: str) -> float:
    """Echo one byte at a time through `cat` over the exec socket; return the median round trip in ms."""
    stream = await streams.open_exec(default(), container, ["cat"], tty=False)
    times = []
    for i in range(ECHOES + 20):
        start = time.perf_counter()
        stream.write(b"x")
        assert (await stream.read_frame())[1] == b"x"
        if i >= 20:
            times.append((time.perf_counter() - start) * 1000)
    stream.close()
    return statistics.median(times)


def main() -> None:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    with one_instance() as instance:
        bare = subprocess.Popen([sys.executable, __file__, "--serve"], stdout=subprocess.PIPE, text=True)
        try:
            assert bare.stdout
            port = bare.stdout.readline().rsplit(":", 1)[1].strip()
            ssh = ssh_command(port, "bench", Path(tempfile.mkdtemp(prefix="bench-ssh-")))
            docker = docker_argv("exec", "-i", instance.name)
            rows: list[tuple[float, ...]] = []
            for _ in range(ROUNDS):
                echoes = (
                    echo_round_trip([*ssh, "cat"]),
                    asyncio.run(engine_echo(instance.name)),
                    echo_round_trip([*docker, "cat"]),
                )
                server_before, client_before = cpu_seconds(bare.pid), children_cpu_seconds()
                rate = throughput([*ssh, f"zero {THROUGHPUT_BYTES}"])
                server_cpu = (cpu_seconds(bare.pid) - server_before) / (THROUGHPUT_BYTES / 1e9)
                client_cpu = (children_cpu_seconds() - client_before) / (THROUGHPUT_BYTES / 1e9)
                docker_rate = throughput([*docker, "sh", "-c", f"head -c {THROUGHPUT_BYTES} /dev/zero"])
                rows.append((*echoes, rate, docker_rate, server_cpu, client_cpu))
        finally:
            bare.terminate()

    med = [statistics.median(column) for column in zip(*rows, strict=True)]
    print(f"{ROUNDS} alternating rounds, medians.\n")
    print(f"echo round trip (ms): ssh hop {med[0]:.3f}, engine hop {med[1]:.3f}, sum {med[0] + med[1]:.3f};", end="")
    print(f" docker exec {med[2]:.3f}, 1.5x of it {1.5 * med[2]:.3f}")
    print(f"throughput (MB/s): ssh hop {med[3]:.0f}, docker exec {med[4]:.0f};", end="")
    print(f" CPU-seconds per GB on the ssh hop: asyncssh server {med[5]:.1f}, ssh client {med[6]:.1f}")


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve"]:
        asyncio.run(serve())
    else:
        main()
