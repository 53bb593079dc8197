"""Fetch a file the learner names by URL (a stack, an upload with `url=`): only from hosts the operator allows.

The server makes the request, so an open fetcher would let any visitor reach what the server reaches (its
loopback, the engine, the cloud's metadata address). Only `http(s)://host[:port]/…` on FETCH_ALLOWED_HOSTS is
fetched, redirects are followed only to allowed hosts, and the body is cut at a size and a deadline.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urljoin, urlsplit

import requests
import urllib3
from django.conf import settings

from sessions.lifecycle import SandboxError

CHUNK_BYTES = 64 * 1024
REDIRECTS_LIMIT = 3
# Longest wait for any one read: past the deadline, a server that trickles is cut within this.
READ_TIMEOUT = 10.0


class FetchRefused(SandboxError):
    status = 403
    code = "fetch_not_allowed"


class FetchTooLarge(SandboxError):
    status = 413
    code = "fetch_too_large"


class FetchFailed(SandboxError):
    status = 422
    code = "fetch_failed"


def allowed(url: str) -> bool:
    """Whether url is plain http(s) on a host (and port) of FETCH_ALLOWED_HOSTS."""
    try:
        parts = urlsplit(url)
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:
        return False
    if (
        parts.scheme not in ("http", "https")
        or port is None
        or parts.username is not None
        or parts.password is not None
        or not parts.hostname
    ):
        return False
    hosts = {host.lower() for host in settings.FETCH_ALLOWED_HOSTS}
    host = parts.hostname.lower()
    return host in hosts or f"{host}:{port}" in hosts


@contextmanager
def fetch(url: str, limit: int | None = None, timeout: float | None = None) -> Iterator[Iterator[bytes]]:
    """Open url and yield its body as chunks; raise FetchRefused, FetchTooLarge or FetchFailed."""
    limit = settings.FETCH_MAX_BYTES if limit is None else limit
    deadline = time.monotonic() + (settings.FETCH_TIMEOUT if timeout is None else timeout)
    with requests.Session() as http:
        response = _follow(http, url, deadline)
        with response:
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > limit:
                raise FetchTooLarge(f"{url} is {int(declared)} bytes; the limit is {limit}")
            yield _chunks(response, url, limit, deadline)


def _follow(http: requests.Session, url: str, deadline: float) -> requests.Response:
    for _ in range(REDIRECTS_LIMIT + 1):
        if not allowed(url):
            hosts = ", ".join(settings.FETCH_ALLOWED_HOSTS) or "none (FETCH_ALLOWED_HOSTS is empty)"
            raise FetchRefused(f"{url[:200]} is not on a host this server fetches from: {hosts}")
        try:
            left = _left(deadline, url)
            # identity: bytes are counted as they arrive, never as a compressed body inflates.
            response = http.get(
                url,
                stream=True,
                allow_redirects=False,
                headers={"Accept-Encoding": "identity"},
                timeout=(min(left, 5.0), min(left, READ_TIMEOUT)),
            )
        except requests.RequestException as e:
            raise FetchFailed(f"could not fetch {url}: {e}") from None
        if response.is_redirect:
            response.close()
            url = urljoin(url, response.headers.get("Location", ""))
            continue
        if response.status_code != 200:
            response.close()
            raise FetchFailed(f"{url} answered {response.status_code} {response.reason}")
        return response
    raise FetchFailed(f"{url} redirected more than {REDIRECTS_LIMIT} times")


def _chunks(response: requests.Response, url: str, limit: int, deadline: float) -> Iterator[bytes]:
    received = 0
    try:
        # read1: what one read brings, so the deadline is checked between reads even if the server trickles.
        while chunk := response.raw.read1(CHUNK_BYTES, decode_content=False):
            received += len(chunk)
            if received > limit:
                raise FetchTooLarge(f"{url} is larger than the limit of {limit} bytes")
            _left(deadline, url)
            yield chunk
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as e:
        raise FetchFailed(f"could not fetch {url}: {e}") from None


def _left(deadline: float, url: str) -> float:
    """Seconds left before the deadline, for each read; a server that trickles is cut there."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise FetchFailed(f"{url} did not arrive in time")
    return left
