"""Run a command to its end inside a sandbox, with a deadline and a cap on its output."""

from __future__ import annotations

import json
import logging
import math
import os
import signal
import socket
import time
from pathlib import Path

import docker

from engine import ENGINE_ERRORS, EngineError, ExecCutShort
from engine.daemon import Daemon
from engine.streams import Frames

log = logging.getLogger(__name__)

EXEC_OUTPUT_LIMIT = 256 * 1024


def exec_run(
    daemon: Daemon, name: str, cmd: list[str], timeout: float = 60.0, limit: int = EXEC_OUTPUT_LIMIT
) -> tuple[int, bytes]:
    """Run a command inside a sandbox; return its exit code (-1 if unknown) and output, or raise ExecCutShort."""
    # A learner owns everything inside the sandbox, its `docker` binary included: the deadline holds even when
    # the command prints nothing, and output past the limit is never read.
    deadline = time.monotonic() + timeout
    # Whole seconds: one client per distinct timeout is kept.
    api = daemon.api(max(1, math.ceil(timeout)))
    try:
        exec_id = api.exec_create(name, cmd)["Id"]
        output = _exec_output(daemon, api, exec_id, deadline, limit)
        return _exec_exit_code(api, exec_id, deadline), output
    except ExecCutShort as e:
        _kill_exec(api, exec_id)
        raise ExecCutShort(f"{cmd[0]} in {name}: {e}", printed_too_much=e.printed_too_much) from None
    except (*ENGINE_ERRORS, EngineError, OSError) as e:
        raise EngineError(f"exec in {name} failed: {e}") from e


def _exec_output(daemon: Daemon, api: docker.APIClient, exec_id: str, deadline: float, limit: int) -> bytes:
    """Start the exec and return its stdout and stderr once it ends; raise ExecCutShort past deadline or limit."""
    body = json.dumps({"Detach": False, "Tty": False}).encode()
    head = (
        f"POST /v{api.api_version}/exec/{exec_id}/start HTTP/1.1\r\nHost: docker\r\n"
        f"Content-Type: application/json\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    with daemon.connect(deadline) as sock:
        sock.sendall(head.encode() + body)
        received, chunk = bytearray(), memoryview(bytearray(64 * 1024))
        while b"\r\n\r\n" not in received:
            n = _recv_into(sock, chunk, deadline)
            if not n:
                raise EngineError("the engine hung up before starting it")
            received += chunk[:n]
        status, _, early = received.partition(b"\r\n\r\n")
        if b" 101 " not in status and b" 200 " not in status:
            raise EngineError(status.split(b"\r\n")[0].decode(errors="replace"))
        frames = Frames()
        frames.feed(early)
        output = bytearray()
        while True:
            for _kind, parts in frames.runs():
                for part in parts:
                    output += part
            if len(output) + max(frames.pending - 8, 0) > limit:
                raise ExecCutShort(f"printed more than {limit} bytes", printed_too_much=True)
            n = _recv_into(sock, frames.room(), deadline)
            if not n:
                return bytes(output)
            frames.filled(n)


def _recv_into(sock: socket.socket, room: memoryview, deadline: float) -> int:
    """Read what has arrived into room, waiting no later than the deadline; 0 at the end of the stream."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise ExecCutShort("did not finish in time")
    sock.settimeout(remaining)
    try:
        return sock.recv_into(room)
    except TimeoutError:
        raise ExecCutShort("did not finish in time") from None


def _exec_exit_code(api: docker.APIClient, exec_id: str, deadline: float) -> int:
    """Return the exit code of an exec whose output has ended; -1 when the engine cannot tell within 2 s."""
    # The engine closes the output a moment before it records the exit code. A process that closed its output
    # but runs on is not waited for.
    deadline = min(deadline, time.monotonic() + 2)
    while True:
        info = api.exec_inspect(exec_id)
        if not info["Running"] or time.monotonic() >= deadline:
            return int(info["ExitCode"] if info["ExitCode"] is not None else -1)
        time.sleep(0.02)


def stop_exec(daemon: Daemon, exec_id: str) -> None:
    """Kill a process started with streams.open_exec that outran its deadline or its output cap."""
    _kill_exec(daemon.client().api, exec_id)


def _kill_exec(api: docker.APIClient, exec_id: str) -> None:
    """Kill a cut-short exec's process group, when this host sees the engine's processes; else leave it be."""
    # The engine has no way to stop an exec. Its process leads its own process group, so killing the group
    # takes the children (`docker ps` under `sh -c`) too. The pid is checked to be in the container's cgroup:
    # a remote engine's pids, or a pid reused since, name some other process here.
    try:
        info = api.exec_inspect(exec_id)
        # A process that started a moment ago may not have its pid recorded by the engine yet.
        for _ in range(20):
            if not info["Running"] or info.get("Pid"):
                break
            time.sleep(0.05)
            info = api.exec_inspect(exec_id)
        pid, container = int(info.get("Pid") or 0), str(info["ContainerID"])
        if not info["Running"] or pid <= 0 or container not in Path(f"/proc/{pid}/cgroup").read_text():
            return
        os.killpg(pid, signal.SIGKILL)
    except (FileNotFoundError, ProcessLookupError):
        pass  # a remote engine's process, or one that has just ended
    except (*ENGINE_ERRORS, OSError, KeyError, ValueError) as e:
        log.warning("could not stop exec %s: %s", exec_id, e)
