"""Run the router in several processes on one port: each has a listening socket of its own (SO_REUSEPORT).

One asyncio process forwards on one core; the kernel spreads new connections over the processes' sockets.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import socket
import sys
import time
import traceback
from collections.abc import Callable

log = logging.getLogger(__name__)

STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}
RESTART_DELAY = 1.0  # a child that dies at once (a bug, a bad setting) must not turn into a busy loop
_PR_SET_PDEATHSIG = 1


def listening_sockets(host: str, port: int, count: int) -> list[socket.socket]:
    """Bind count listening sockets to one address, so that a bad address fails here, before any process starts."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[
        0
    ]
    sockets: list[socket.socket] = []
    for _ in range(count):
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
        address = sock.getsockname()  # port 0 chose a port: the others join that one
        sock.listen(socket.SOMAXCONN)
        sock.setblocking(False)
        sockets.append(sock)
    return sockets


def supervise(sockets: list[socket.socket], serve: Callable[[socket.socket], None]) -> None:
    """Serve each socket in a child process until SIGTERM or SIGINT (passed on to them); restart a child that dies."""
    children: dict[int, socket.socket] = {}
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True
        for pid in children:
            with contextlib.suppress(ProcessLookupError):  # reaped just before this handler ran
                os.kill(pid, signal.SIGTERM)

    for signum in STOP_SIGNALS:
        signal.signal(signum, stop)
    for sock in sockets:
        _start(children, sock, sockets, serve)
    while children:
        pid, status = os.wait()
        # The parent keeps every socket open, so connections queued on a dead child's socket wait for the next.
        sock = children.pop(pid)
        if stopping:
            continue
        log.error("router process %d ended (exit code %d); starting another", pid, os.waitstatus_to_exitcode(status))
        time.sleep(RESTART_DELAY)
        if not stopping:
            _start(children, sock, sockets, serve)


def _start(
    children: dict[int, socket.socket],
    sock: socket.socket,
    sockets: list[socket.socket],
    serve: Callable[[socket.socket], None],
) -> None:
    parent = os.getpid()
    # Blocked until the child is on the list, so a SIGTERM arriving meanwhile still reaches it.
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    pid = os.fork()
    if pid == 0:
        _child(parent, sock, sockets, serve)
    children[pid] = sock
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


def _child(
    parent: int, sock: socket.socket, sockets: list[socket.socket], serve: Callable[[socket.socket], None]
) -> None:
    code = 1
    try:
        for signum in STOP_SIGNALS:
            signal.signal(signum, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        # A parent killed outright (SIGKILL) cannot forward anything: the kernel then stops the child.
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:
            return
        for other in sockets:
            if other is not sock:
                other.close()
        serve(sock)
        code = 0
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        # Never return into the parent's code (its loop, its atexit handlers) from a forked child.
        os._exit(code)
