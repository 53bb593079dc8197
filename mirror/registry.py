"""The registry sandboxes pull from: how it is configured and served (where sandboxes find it: engine.mirror)."""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.conf import settings

from engine.daemon import default
from engine.mirror import ensure_address, mirror_host

MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"


class RegistryError(Exception):
    """The registry could not be started or did not answer."""


def mirror_command() -> list[str]:
    """Write the read-only mirror's configuration and return the command that serves it."""
    ensure_address(default())
    settings.MIRROR_STORAGE.mkdir(parents=True, exist_ok=True)
    addr = f"{mirror_host()}:{settings.MIRROR_PORT}"
    return serve_command(write_config("mirror", registry_config(addr, read_only=True)))


def registry_config(addr: str, read_only: bool) -> dict[str, Any]:
    """Return a distribution registry configuration serving the shared storage at addr."""
    storage: dict[str, Any] = {
        "filesystem": {"rootdirectory": str(settings.MIRROR_STORAGE)},
        "cache": {"blobdescriptor": "inmemory"},
    }
    if read_only:
        # A push from a sandbox gets 405: no session may write what other sessions pull.
        storage["maintenance"] = {"readonly": {"enabled": True}}
    config: dict[str, Any] = {"version": 0.1, "log": {"level": "warn"}, "storage": storage, "http": {"addr": addr}}
    if read_only and settings.MIRROR_PROXY_URL:
        config["proxy"] = {"remoteurl": settings.MIRROR_PROXY_URL}
    return config


def write_config(name: str, config: dict[str, Any]) -> Path:
    """Write a registry configuration under DATA_DIR and return its path (JSON is valid YAML)."""
    path = settings.DATA_DIR / f"registry-{name}.json"
    path.write_text(json.dumps(config, indent=2))
    return path


def serve_command(config_path: Path) -> list[str]:
    """Return the command line that runs Debian's docker-registry with a configuration."""
    return [_binary(), "serve", str(config_path)]


def _binary() -> str:
    binary = shutil.which("docker-registry")
    if binary is None:
        raise RegistryError("docker-registry is not installed: apt-get install docker-registry")
    return binary


def collect_garbage() -> None:
    """Delete the layers no tag uses any more (left by rebuilt images); run while no writable registry runs."""
    path = write_config("gc", registry_config("127.0.0.1:0", read_only=False))
    try:
        command = [_binary(), "garbage-collect", "--delete-untagged", str(path)]
        done = subprocess.run(command, capture_output=True, text=True)
    finally:
        path.unlink(missing_ok=True)
    if done.returncode != 0:
        raise RegistryError(f"garbage-collect failed: {done.stderr.strip()[-500:]}")


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def running(host: str, read_only: bool) -> Iterator[str]:
    """Run a registry on a free port of host for the duration; yield its host:port."""
    settings.MIRROR_STORAGE.mkdir(parents=True, exist_ok=True)
    addr = f"{host}:{free_port(host)}"
    path = write_config(addr.replace(":", "-"), registry_config(addr, read_only))
    proc = subprocess.Popen(serve_command(path), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_until_up(addr, proc)
        yield addr
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        path.unlink(missing_ok=True)


def wait_until_up(addr: str, proc: subprocess.Popen[Any], timeout: float = 10.0) -> None:
    """Return once the server proc started answers HTTP at addr; raise RegistryError if it exits or stays silent."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RegistryError(f"{proc.args!r} exited: {proc.stderr.read() if proc.stderr else ''}")
        try:
            urllib.request.urlopen(f"http://{addr}/v2/", timeout=1).close()
            return
        except urllib.error.HTTPError:
            return  # any HTTP answer means it listens
        except OSError:
            time.sleep(0.05)
    raise RegistryError(f"{proc.args!r} did not answer on {addr} within {timeout:.0f}s")


def image_label(addr: str, repository: str, tag: str, label: str) -> str | None:
    """Return a label of the image repository:tag in the registry at addr, or None when it is absent."""
    manifest = _get_json(f"http://{addr}/v2/{repository}/manifests/{tag}", accept=MANIFEST_V2)
    if manifest is None:
        return None
    image = _get_json(f"http://{addr}/v2/{repository}/blobs/{manifest['config']['digest']}") or {}
    return str((image.get("config") or {}).get("Labels", {}).get(label, "")) or None


def _get_json(url: str, accept: str = "application/json") -> dict[str, Any] | None:
    request = urllib.request.Request(url, headers={"Accept": accept})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return dict(json.load(response))
    except urllib.error.HTTPError as e:
        if e.code == 404:
            return None
        raise RegistryError(f"GET {url}: {e}") from e
    except OSError as e:
        raise RegistryError(f"GET {url}: {e}") from e
