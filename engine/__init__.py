"""The one boundary to the Docker Engine; everything else speaks in sessions and instances.

A plain package, below every Django app: it may read django.conf.settings, never import the apps built on it.
Every object created here carries labels naming its session (and instance), so the engine can always be
reconciled with the database.

- daemon: a Docker engine by its address (Daemon): its clients, where it listens; labels; the pool async callers use
- names: what a session id becomes in the names of networks, containers, host names and ssh users
- sandboxes: session networks, and the sandboxes' containers from start to removal
- execs: a command run to its end inside a sandbox, with a deadline and an output cap
- streams: a process's or a sandbox's terminal stdio as a raw asyncio stream
- images: images built from root file systems, pushed to and removed from registries
- mirror: where sandboxes find the registry mirror, and the inner engine's configuration that points there
- tls: the certificates with which a sandbox's inner engine serves its API
- usage: a sandbox's CPU, memory and network counters, as the engine counts them
- inner: a client of a sandbox's inner engine API, which the learner controls
- relay: a TCP connection to a sandbox's port, made from here or from inside it through its engine
"""

from __future__ import annotations

import asyncio

import requests
from docker.errors import DockerException

# docker-py lets the transport's errors through (a refused socket, a read timeout): they mean the same to us.
ENGINE_ERRORS = (DockerException, requests.exceptions.RequestException)


class EngineError(Exception):
    """The Docker Engine failed or is unreachable."""


class Unreachable(EngineError, DockerException):
    """The engine did not answer the making of its client; the SDK's error too, so code catching those is unchanged."""


class OutOfCapacity(EngineError):
    """The engine has no room (addresses, memory) for another sandbox."""


class NotReady(EngineError):
    """A sandbox's inner Docker engine did not answer in time."""


class ExecCutShort(EngineError):
    """A command inside a sandbox outran its deadline or printed more than its limit; it was stopped.

    `printed_too_much` tells which, so nobody reads it back from the message.
    """

    def __init__(self, message: str, *, printed_too_much: bool = False) -> None:
        super().__init__(message)
        self.printed_too_much = printed_too_much


def give(protocol: asyncio.BaseProtocol, data: bytes | memoryview) -> None:
    """Hand received bytes to a protocol as a transport does: into a buffered protocol's buffers, or as data."""
    if not isinstance(protocol, asyncio.BufferedProtocol):
        protocol.data_received(bytes(data))  # type: ignore[attr-defined]
        return
    view = memoryview(data)
    while view:
        room = memoryview(protocol.get_buffer(len(view)))
        n = min(len(room), len(view))
        room[:n] = view[:n]
        protocol.buffer_updated(n)
        view = view[n:]
