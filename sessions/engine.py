"""The one boundary to the Docker Engine; everything else speaks in sessions and instances.

Every object created here carries labels naming its session (and instance), so the engine can always be
reconciled with the database.
"""

from __future__ import annotations

import functools
import io
import ipaddress
import logging
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
from django.conf import settings
from docker.errors import APIError, DockerException, ImageNotFound, NotFound
from docker.types import IPAMConfig, IPAMPool

log = logging.getLogger(__name__)

LABEL_SESSION = "playground.session"
LABEL_INSTANCE = "playground.instance"
LABEL_ROLE = "playground.role"
LABEL_RECIPE = "playground.recipe"
# Several deployments (a dev server and a test run, say) may share one engine; each reconciles only its own.
LABEL_DEPLOYMENT = "playground.deployment"


class EngineError(Exception):
    """The Docker Engine failed or is unreachable."""


class OutOfCapacity(EngineError):
    """The engine has no room (addresses, memory) for another sandbox."""


class NotReady(EngineError):
    """A sandbox's inner Docker engine did not answer in time."""


@dataclass(frozen=True)
class SandboxSpec:
    name: str
    hostname: str
    session_id: str
    image: str
    memory_mb: int
    cpus: float
    pids: int
    env: dict[str, str] = field(default_factory=dict)
    # Files (absolute path -> content) written into the container before it starts, e.g. the inner daemon.json.
    files: dict[str, bytes] = field(default_factory=dict)


@functools.cache
def client() -> docker.DockerClient:
    return docker.DockerClient(base_url=settings.DOCKER_HOST, timeout=120, max_pool_size=32)


def ping() -> bool:
    try:
        return bool(client().ping())
    except (DockerException, OSError):
        return False


def _labels(session_id: str, role: str, instance: str = "") -> dict[str, str]:
    labels = {LABEL_SESSION: session_id, LABEL_ROLE: role, LABEL_DEPLOYMENT: settings.SANDBOX_DEPLOYMENT}
    if instance:
        labels[LABEL_INSTANCE] = instance
    return labels


def network_name(session_id: str) -> str:
    return f"pg-{session_id}"


def volume_name(instance_name: str) -> str:
    return f"{instance_name}-docker"


def _used_subnets() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    used = []
    for net in client().api.networks():
        for cfg in (net.get("IPAM") or {}).get("Config") or []:
            if cfg.get("Subnet"):
                used.append(ipaddress.ip_network(cfg["Subnet"], strict=False))
    return used


def create_session_network(session_id: str) -> None:
    """Create the bridge network private to one session, on the first free /24 of the pool."""
    used = _used_subnets()
    pool = ipaddress.ip_network(settings.SANDBOX_SUBNET_POOL)
    for subnet in pool.subnets(new_prefix=24):
        if any(subnet.overlaps(u) for u in used):
            continue
        ipam = IPAMConfig(pool_configs=[IPAMPool(subnet=str(subnet))])
        try:
            client().api.create_network(
                network_name(session_id),
                driver="bridge",
                ipam=ipam,
                check_duplicate=True,
                labels=_labels(session_id, "session-network"),
            )
            return
        except APIError as e:
            # Another process took this subnet between our listing and our create: try the next one.
            if "overlap" in str(e).lower():
                continue
            raise EngineError(f"could not create the session network: {e.explanation}") from e
    raise OutOfCapacity("no free subnet left in SANDBOX_SUBNET_POOL")


@functools.cache
def privileged_works() -> bool:
    """Tell whether this engine can start privileged containers (probed once per process)."""
    choice = settings.SANDBOX_PRIVILEGED.lower()
    if choice in ("true", "false"):
        return choice == "true"
    api = client().api
    probe = api.create_container(
        settings.SANDBOX_IMAGE,
        entrypoint=["/bin/true"],
        labels={LABEL_ROLE: "probe"},
        host_config=api.create_host_config(privileged=True),
    )
    try:
        api.start(probe)
    except APIError as e:
        log.info("privileged containers do not start here; using the capability set: %s", e.explanation)
        return False
    finally:
        _remove_quietly("probe", api.remove_container, probe, force=True)
    return True


def _security() -> dict[str, Any]:
    """Return privileged mode, or what works where it fails (a VM withholding CAP_SYS_RESOURCE)."""
    if privileged_works():
        return {"privileged": True}
    return {
        "cap_add": ["ALL"],
        "cap_drop": ["SYS_RESOURCE"],
        "security_opt": ["seccomp=unconfined", "apparmor=unconfined"],
        # The CLI's --security-opt systempaths=unconfined: leave /proc and /sys unmasked for the inner engine.
        "MaskedPaths": [],
        "ReadonlyPaths": [],
    }


def run_sandbox(spec: SandboxSpec) -> str:
    """Start a docker-in-docker container and return its IP on the session network."""
    api = client().api
    volume = volume_name(spec.name)
    net = network_name(spec.session_id)
    security = _security()
    paths = {key: security.pop(key) for key in ("MaskedPaths", "ReadonlyPaths") if key in security}
    try:
        client().volumes.create(volume, labels=_labels(spec.session_id, "sandbox-storage", spec.name))
        host_config = api.create_host_config(
            binds={volume: {"bind": "/var/lib/docker", "mode": "rw"}},
            network_mode=net,
            mem_limit=f"{spec.memory_mb}m",
            memswap_limit=f"{spec.memory_mb}m",
            nano_cpus=int(spec.cpus * 1e9),
            pids_limit=spec.pids,
            cgroupns="private",
            **security,
        )
        host_config.update(paths)
        api.create_container(
            spec.image,
            name=spec.name,
            hostname=spec.hostname,
            tty=True,
            stdin_open=True,
            environment=spec.env,
            labels=_labels(spec.session_id, "sandbox", spec.name),
            host_config=host_config,
        )
        if spec.files:
            api.put_archive(spec.name, "/", _tar(spec.files))
        api.start(spec.name)
        return str(api.inspect_container(spec.name)["NetworkSettings"]["Networks"][net]["IPAddress"])
    except ImageNotFound as e:
        remove_sandbox(spec.name)
        raise EngineError(f"image {spec.image} is not on this engine; run the set-up to build it") from e
    except (DockerException, KeyError) as e:
        remove_sandbox(spec.name)
        raise EngineError(f"could not start the sandbox: {e}") from e


def exec_run(name: str, cmd: list[str], timeout: float = 60.0) -> tuple[int, bytes]:
    """Run a command inside a sandbox and return its exit code and combined output."""
    api = client().api
    try:
        exec_id = api.exec_create(name, cmd)["Id"]
        output = api.exec_start(exec_id)
        code = api.exec_inspect(exec_id)["ExitCode"]
    except DockerException as e:
        raise EngineError(f"exec in {name} failed: {e}") from e
    return int(code if code is not None else -1), output


def wait_ready(name: str, timeout: float) -> None:
    """Return once the sandbox's inner `docker info` succeeds; raise NotReady after timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            code, _ = exec_run(name, ["docker", "info"])
        except EngineError:
            code = -1
            if not _is_running(name):
                raise NotReady(f"{name} stopped while starting: {_tail_log(name)}") from None
        if code == 0:
            return
        time.sleep(0.1)
    raise NotReady(f"{name}: the inner Docker engine did not answer within {timeout:.0f}s")


def _is_running(name: str) -> bool:
    try:
        return bool(client().api.inspect_container(name)["State"]["Running"])
    except DockerException:
        return False


def _tail_log(name: str) -> str:
    try:
        return client().api.logs(name, tail=5).decode(errors="replace").strip()
    except DockerException:
        return "(no log)"


def _remove_quietly(what: str, remove: Callable[..., Any], *args: Any, **kwargs: Any) -> str | None:
    """Call remove(*args, **kwargs); return an error message, or None when it is gone (or already was)."""
    try:
        remove(*args, **kwargs)
    except NotFound:
        pass
    except APIError as e:
        if e.status_code == 409 and "in progress" in str(e):
            return None
        return f"{what}: {e.explanation}"
    except DockerException as e:
        return f"{what}: {e}"
    return None


def remove_sandbox(name: str) -> None:
    """Remove a sandbox container and its storage volume; raise EngineError if either remains."""
    api = client().api
    errors = [
        _remove_quietly(f"container {name}", api.remove_container, name, force=True, v=True),
        _remove_quietly(f"volume {name}", api.remove_volume, volume_name(name), force=True),
    ]
    _raise_if_any(errors)


def remove_session_objects(session_id: str) -> None:
    """Remove every container, volume and network labelled with this session; raise if any remains."""
    api = client().api
    flt = {"label": f"{LABEL_SESSION}={session_id}"}
    errors: list[str | None] = []
    try:
        for c in api.containers(all=True, filters=flt):
            errors.append(_remove_quietly(f"container {c['Id']}", api.remove_container, c["Id"], force=True, v=True))
        for v in api.volumes(filters=flt).get("Volumes") or []:
            errors.append(_remove_quietly(f"volume {v['Name']}", api.remove_volume, v["Name"], force=True))
        for n in api.networks(filters=flt):
            errors.append(_remove_quietly(f"network {n['Id']}", api.remove_network, n["Id"]))
    except DockerException as e:
        errors.append(f"listing objects of session {session_id}: {e}")
    _raise_if_any(errors)


def _raise_if_any(errors: list[str | None]) -> None:
    messages = [e for e in errors if e]
    if messages:
        raise EngineError("; ".join(messages))


def labelled_objects(session_id: str | None = None) -> dict[str, list[str]]:
    """List the ids of this deployment's containers, volumes and networks (optionally of one session)."""
    api = client().api
    session_label = f"{LABEL_SESSION}={session_id}" if session_id else LABEL_SESSION
    flt = {"label": [f"{LABEL_DEPLOYMENT}={settings.SANDBOX_DEPLOYMENT}", session_label]}
    return {
        "containers": [c["Id"] for c in api.containers(all=True, filters=flt)],
        "volumes": [v["Name"] for v in api.volumes(filters=flt).get("Volumes") or []],
        "networks": [n["Id"] for n in api.networks(filters=flt)],
    }


def image_recipe(tag: str) -> str | None:
    """Return the recipe label of a local image, or None when the image is absent."""
    try:
        labels = client().api.inspect_image(tag)["Config"].get("Labels") or {}
    except ImageNotFound:
        return None
    return labels.get(LABEL_RECIPE, "")


def import_rootfs(tarball: Path, tag: str, changes: list[str]) -> None:
    """Import a root file system tarball as an image tagged `tag`."""
    repository, _, version = tag.rpartition(":")
    if not repository:
        repository, version = tag, "latest"
    try:
        client().api.import_image_from_file(str(tarball), repository=repository, tag=version, changes=changes)
    except DockerException as e:
        raise EngineError(f"docker import failed: {e}") from e


def _tar(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path, content in files.items():
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size = len(content)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def ensure_host_network(name: str, subnet: str) -> None:
    """Create a bridge network on subnet unless it exists, so the host holds the subnet's first address."""
    api = client().api
    try:
        if _network_exists(name):
            return
        api.create_network(
            name,
            driver="bridge",
            ipam=IPAMConfig(pool_configs=[IPAMPool(subnet=subnet)]),
            check_duplicate=True,
            labels={LABEL_ROLE: name},
        )
    except APIError as e:
        # A concurrent start created it first.
        if e.status_code == 409 and _network_exists(name):
            return
        raise EngineError(f"could not create network {name} on {subnet}: {e.explanation}") from e


def _network_exists(name: str) -> bool:
    # The engine's name filter matches substrings.
    return any(n["Name"] == name for n in client().api.networks(names=[name]))


def push_image(image: str, tags: list[str]) -> None:
    """Tag image as repository:tag for each tag (repository naming a registry) and push them."""
    api = client().api
    repository, _, _ = image.rpartition(":")
    try:
        for tag in tags:
            api.tag(image, repository, tag)
            for line in api.push(repository, tag, stream=True, decode=True):
                if "error" in line:
                    raise EngineError(f"push of {repository}:{tag} failed: {line['error']}")
    except DockerException as e:
        raise EngineError(f"push of {repository} failed: {e}") from e


def remove_image(image: str) -> None:
    """Remove an image tag from the engine (the image goes once no tag names it)."""
    error = _remove_quietly(f"image {image}", client().api.remove_image, image)
    _raise_if_any([error])
