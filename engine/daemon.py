"""A Docker engine (Daemon): the clients that speak to it, where it listens; labels; the pool async callers use."""

from __future__ import annotations

import asyncio
import functools
import socket
import ssl
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

import docker
from django.conf import settings
from docker.errors import APIError, DockerException, NotFound
from docker.tls import TLSConfig
from docker.utils import parse_host
from requests.sessions import merge_setting

from engine import ENGINE_ERRORS, EngineError, Unreachable, tlsstream

LABEL_SESSION = "playground.session"
LABEL_INSTANCE = "playground.instance"
LABEL_ROLE = "playground.role"
LABEL_RECIPE = "playground.recipe"
# Several deployments (a dev server and a test run, say) may share one engine; each reconciles only its own.
LABEL_DEPLOYMENT = "playground.deployment"

_T = TypeVar("_T")
# An engine on another host is reached over TCP with TLS both ways; its client's files, as Docker names them in
# DOCKER_CERT_PATH.
TLS_FILES = ("ca.pem", "cert.pem", "key.pem")


@dataclass(frozen=True)
class Daemon:
    """One Docker engine, by its address; every call on a session's sandboxes names the engine it goes to.

    Its clients are kept per address (and per timeout), so making a Daemon is free and two equal ones share them.
    An engine at tcp://host:port with tls, a directory holding TLS_FILES, is reached over TLS: its server
    certificate must chain to ca.pem and name host, and cert.pem/key.pem sign the platform in.
    """

    url: str
    tls: str = ""

    def client(self) -> docker.DockerClient:
        """Return the engine's client; raise EngineError when the engine does not answer its making."""
        return _made(_client, self.url, self.tls)

    def api(self, seconds: int) -> docker.APIClient:
        """Return a low-level client whose calls give up after seconds (one is kept per engine and timeout)."""
        return _made(_api, self.url, self.tls, seconds)

    def ping(self, timeout: int = 10) -> bool:
        """Tell whether the engine answers within timeout seconds (a hung engine must not hang a health check)."""
        return self.problem(timeout) is None

    def problem(self, timeout: int = 10) -> str | None:
        """Return why the engine does not answer a ping within timeout seconds, or None when it does."""
        try:
            return None if self.api(timeout).ping() else "it answered the ping with an error"
        except (*ENGINE_ERRORS, OSError) as e:
            return str(e) or type(e).__name__

    def data_root(self) -> str:
        """Return the directory in which the engine keeps containers and volumes (the sandboxes' disks)."""
        return _data_root(self.url, self.tls)

    def check_user_namespaces(self) -> None:
        """Refuse an engine whose containers would run as the host's root (checked once per process)."""
        _check_user_namespaces(self.url, self.tls)

    def address(self) -> str | tuple[str, int]:
        """Return where the engine listens, a unix socket's path or a host and port; raise EngineError for others.

        Terminals and ssh sessions speak to the engine over connections of their own (see streams), which know
        unix sockets and TCP (with TLS or without) only: an engine the SDK would reach over ssh:// is refused.
        """
        return _address(self.url)

    def connect(self, deadline: float) -> socket.socket:
        """Open a blocking connection to the engine, giving up at the deadline (time.monotonic())."""
        timeout = max(deadline - time.monotonic(), 0.001)
        where = self.address()
        if not isinstance(where, str):
            sock = socket.create_connection(where, timeout=timeout)
            if not self.tls:
                return sock
            try:
                # The handshake is bounded by the same timeout, which the caller's reads set again.
                return tls_context(self.tls).wrap_socket(sock, server_hostname=where[0])
            except BaseException:
                sock.close()
                raise
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect(where)
        except OSError:
            sock.close()
            raise
        return sock

    async def open_connection(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Open an asyncio stream to the engine."""
        where = self.address()
        if isinstance(where, str):
            return await asyncio.open_unix_connection(where)
        if self.tls:
            # Only an engine's first connection reads its client files: that one is read off the event loop.
            context = _tls_contexts.get(self.tls) or await run_blocking(tls_context, self.tls)
            return await tlsstream.open_connection(context, *where)
        return await asyncio.open_connection(*where)


def default() -> Daemon:
    """Return the engine at SANDBOX_ENGINE: where images are built and where a deployment of one engine runs all."""
    return Daemon(settings.SANDBOX_ENGINE)


def _made(make: Callable[..., _T], url: str, *args: Any) -> _T:
    # Making a client asks the engine for its API version, so an engine that does not answer fails here, outside
    # the callers' try blocks: as an EngineError it stops only what was asked of that engine (a start, one engine's
    # sweep), not the whole request (a 500) or sweep.
    try:
        return make(url, *args)
    except ENGINE_ERRORS as e:
        raise Unreachable(f"the sandbox engine at {url} does not answer: {e}") from e


class _API(docker.APIClient):
    """The SDK's client, which is a requests session: one that takes nothing from the environment.

    Otherwise HTTPS_PROXY would send engine calls through a proxy, and REQUESTS_CA_BUNDLE would replace the
    engine's own CA (requests prefers the environment's bundle to the session's). An engine is reached directly.
    """

    def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any) -> Any:
        return {
            "proxies": merge_setting(proxies, self.proxies),
            "stream": merge_setting(stream, self.stream),
            "verify": merge_setting(verify, self.verify),
            "cert": merge_setting(cert, self.cert),
        }


class _Client(docker.DockerClient):
    def __init__(self, **kwargs: Any) -> None:  # noqa: D107 (the SDK's, with _API)
        self.api = _API(**kwargs)


@functools.cache
def _client(url: str, tls: str) -> docker.DockerClient:
    return _Client(base_url=url, tls=_tls_config(tls), timeout=120, max_pool_size=32)


@functools.cache
def _api(url: str, tls: str, seconds: int) -> docker.APIClient:
    return _API(base_url=url, tls=_tls_config(tls), timeout=seconds)


def _tls_config(tls: str) -> TLSConfig | bool:
    if not tls:
        return False
    ca, cert, key = (str(Path(tls) / name) for name in TLS_FILES)
    return TLSConfig(client_cert=(cert, key), ca_cert=ca, verify=True)


# The TLS settings tls_context has read, by the directory of the client files: kept for the process's life.
_tls_contexts: dict[str, ssl.SSLContext] = {}


def tls_context(tls: str) -> ssl.SSLContext:
    """Return the TLS settings of the engine whose client files are in the directory tls (read once per process)."""
    context = _tls_contexts.get(tls)
    if context is None:
        context = _tls_contexts[tls] = _read_tls(tls)
    return context


def _read_tls(tls: str) -> ssl.SSLContext:
    ca, cert, key = (str(Path(tls) / name) for name in TLS_FILES)
    context = ssl.create_default_context(cafile=ca)
    context.load_cert_chain(cert, key)
    return context


def check_tls(tls: str) -> None:
    """Raise EngineError unless the directory tls holds a CA, a client certificate and its key that TLS can load."""
    if not Path(tls).is_absolute():
        # Every process reads it from its own working directory: a relative one would hold only where it was given.
        raise EngineError(f"{tls}: give the TLS directory as an absolute path")
    missing = [name for name in TLS_FILES if not (Path(tls) / name).is_file()]
    if missing:
        raise EngineError(f"{tls} lacks {', '.join(missing)} (the client files compose/engine/start --tls makes)")
    try:
        _read_tls(tls)
    except (OSError, ssl.SSLError) as e:
        raise EngineError(f"the TLS files in {tls} do not load: {e}") from e


@functools.cache
def _data_root(url: str, tls: str) -> str:
    try:
        return str(_client(url, tls).info()["DockerRootDir"])
    except (*ENGINE_ERRORS, KeyError) as e:
        raise EngineError(f"the sandbox engine at {url} does not answer: {e}") from e


@functools.cache
def _check_user_namespaces(url: str, tls: str) -> None:
    try:
        options = _client(url, tls).info().get("SecurityOptions") or []
    except ENGINE_ERRORS as e:
        raise EngineError(f"the sandbox engine at {url} does not answer: {e}") from e
    if not any("name=userns" in option for option in options):
        raise EngineError(
            f"the engine at {url} runs containers without user namespaces, so a learner "
            "would be root on the host: use the sandbox engine (compose/engine/start)"
        )


def labels(session_id: str, role: str, instance: str = "") -> dict[str, str]:
    """Return the labels of an object a session owns, by which it is found again and reconciled."""
    found = {LABEL_SESSION: session_id, LABEL_ROLE: role, LABEL_DEPLOYMENT: settings.SANDBOX_DEPLOYMENT}
    if instance:
        found[LABEL_INSTANCE] = instance
    return found


def check_address(url: str) -> None:
    """Raise EngineError unless url is an engine address the platform can reach (unix:// or tcp://)."""
    _address(url)


@functools.cache
def _address(url: str) -> str | tuple[str, int]:
    try:
        parsed = urlparse(parse_host(url))
        port = parsed.port if parsed.scheme == "http" else None
    except (DockerException, ValueError) as e:  # ValueError: a port past 65535
        raise EngineError(f"{url!r} is not a Docker engine address: {e}") from e
    if parsed.scheme == "http+unix":
        return parsed.path
    if parsed.scheme == "http" and parsed.hostname and port:
        return parsed.hostname, port
    raise EngineError(
        f"{url!r}: the platform reaches its engines over a unix socket (unix:///path) or TCP "
        "(tcp://host:port, with TLS when the engine is given its client files), not over ssh://"
    )


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
