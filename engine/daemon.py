"""The engine's daemon at SANDBOX_ENGINE: the client that speaks to it, where it listens, its labels, a thread pool."""

from __future__ import annotations

import asyncio
import functools
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlparse

import docker
from django.conf import settings
from docker.errors import APIError, DockerException, NotFound
from docker.utils import parse_host

from engine import ENGINE_ERRORS, EngineError

LABEL_SESSION = "playground.session"
LABEL_INSTANCE = "playground.instance"
LABEL_ROLE = "playground.role"
LABEL_RECIPE = "playground.recipe"
# Several deployments (a dev server and a test run, say) may share one engine; each reconciles only its own.
LABEL_DEPLOYMENT = "playground.deployment"


@functools.cache
def client() -> docker.DockerClient:
    return docker.DockerClient(base_url=settings.SANDBOX_ENGINE, timeout=120, max_pool_size=32)


@functools.cache
def api_with_timeout(seconds: int) -> docker.APIClient:
    """Return a low-level client whose calls give up after seconds (one is kept per distinct timeout)."""
    return docker.APIClient(base_url=settings.SANDBOX_ENGINE, timeout=seconds)


def ping() -> bool:
    try:
        return bool(client().ping())
    except (*ENGINE_ERRORS, OSError):
        return False


@functools.cache
def data_root() -> str:
    """Return the directory in which the engine keeps containers and volumes (the sandboxes' disks)."""
    try:
        return str(client().info()["DockerRootDir"])
    except (*ENGINE_ERRORS, KeyError) as e:
        raise EngineError(f"the sandbox engine at {settings.SANDBOX_ENGINE} does not answer: {e}") from e


@functools.cache
def check_user_namespaces() -> None:
    """Refuse an engine whose containers would run as the host's root (checked once per process)."""
    try:
        options = client().info().get("SecurityOptions") or []
    except ENGINE_ERRORS as e:
        raise EngineError(f"the sandbox engine at {settings.SANDBOX_ENGINE} does not answer: {e}") from e
    if not any("name=userns" in option for option in options):
        raise EngineError(
            f"the engine at {settings.SANDBOX_ENGINE} runs containers without user namespaces, so a learner "
            "would be root on the host: use the sandbox engine (compose/engine/start)"
        )


def labels(session_id: str, role: str, instance: str = "") -> dict[str, str]:
    """Return the labels of an object a session owns, by which it is found again and reconciled."""
    found = {LABEL_SESSION: session_id, LABEL_ROLE: role, LABEL_DEPLOYMENT: settings.SANDBOX_DEPLOYMENT}
    if instance:
        found[LABEL_INSTANCE] = instance
    return found


def address() -> str | tuple[str, int]:
    """Return where the engine listens, a unix socket's path or a host and port; raise EngineError for others.

    Terminals and ssh sessions speak to the engine over connections of their own (see streams), which know
    unix sockets and plain TCP only: an engine the SDK would reach over ssh:// or TLS is refused.
    """
    return _address(settings.SANDBOX_ENGINE)


@functools.cache
def _address(url: str) -> str | tuple[str, int]:
    try:
        parsed = urlparse(parse_host(url))
    except DockerException as e:
        raise EngineError(f"SANDBOX_ENGINE={url!r} is not a Docker engine address: {e}") from e
    if parsed.scheme == "http+unix":
        return parsed.path
    if parsed.scheme == "http" and parsed.hostname and parsed.port:
        return parsed.hostname, parsed.port
    raise EngineError(
        f"SANDBOX_ENGINE={url!r}: the platform reaches its engine over a unix socket (unix:///path) or plain "
        "TCP (tcp://host:port) only, not over ssh:// or TLS; forward the engine's socket to this host instead"
    )


def connect(deadline: float) -> socket.socket:
    """Open a blocking connection to the engine, giving up at the deadline (time.monotonic())."""
    timeout = max(deadline - time.monotonic(), 0.001)
    where = address()
    if not isinstance(where, str):
        return socket.create_connection(where, timeout=timeout)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(where)
    except OSError:
        sock.close()
        raise
    return sock


async def open_connection() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Open an asyncio stream to the engine."""
    where = address()
    if isinstance(where, str):
        return await asyncio.open_unix_connection(where)
    return await asyncio.open_connection(*where)


# Async callers (consumers, the ssh gateway) reach the blocking SDK through this bounded pool.
_EXECUTOR = ThreadPoolExecutor(max_workers=16, thread_name_prefix="engine")


async def run_blocking(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a blocking engine call off the event loop, in a bounded pool."""
    return await asyncio.get_running_loop().run_in_executor(_EXECUTOR, functools.partial(fn, *args, **kwargs))


def remove_quietly(what: str, remove: Callable[..., Any], *args: Any, **kwargs: Any) -> str | None:
    """Call remove(*args, **kwargs); return an error message, or None when it is gone (or already was)."""
    try:
        remove(*args, **kwargs)
    except NotFound:
        pass
    except APIError as e:
        if e.status_code == 409 and "in progress" in str(e):
            return None
        return f"{what}: {e.explanation}"
    except ENGINE_ERRORS as e:
        return f"{what}: {e}"
    return None


def raise_if_any(errors: list[str | None]) -> None:
    """Raise one EngineError naming every error, if there is any."""
    messages = [e for e in errors if e]
    if messages:
        raise EngineError("; ".join(messages))
