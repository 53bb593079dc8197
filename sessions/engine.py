"""The one boundary to the Docker Engine; everything else speaks in sessions and instances.

Every object created here carries labels naming its session (and instance), so the engine can always be
reconciled with the database.
"""

from __future__ import annotations

import asyncio
import functools
import io
import ipaddress
import json
import logging
import math
import os
import random
import re
import signal
import socket
import struct
import tarfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import docker
import requests
from django.conf import settings
from docker.errors import APIError, DockerException, ImageNotFound, NotFound
from docker.types import IPAMConfig, IPAMPool, LogConfig

log = logging.getLogger(__name__)

# docker-py lets the transport's errors through (a refused socket, a read timeout): they mean the same to us.
ENGINE_ERRORS = (DockerException, requests.exceptions.RequestException)

LABEL_SESSION = "playground.session"
LABEL_INSTANCE = "playground.instance"
LABEL_ROLE = "playground.role"
LABEL_RECIPE = "playground.recipe"
# Several deployments (a dev server and a test run, say) may share one engine; each reconciles only its own.
LABEL_DEPLOYMENT = "playground.deployment"
BRIDGE_PREFIX = "pgs"


class EngineError(Exception):
    """The Docker Engine failed or is unreachable."""


class OutOfCapacity(EngineError):
    """The engine has no room (addresses, memory) for another sandbox."""


class NotReady(EngineError):
    """A sandbox's inner Docker engine did not answer in time."""


@dataclass(frozen=True)
class EngineTls:
    """PEM documents with which a sandbox's inner dockerd serves TLS on 2375 and verifies its clients."""

    ca_cert: str
    server_cert: str
    server_key: str


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
    tls: EngineTls | None = None
    # Files (absolute path -> content) written into the container before it starts, e.g. the inner daemon.json.
    files: dict[str, bytes] = field(default_factory=dict)


ENGINE_TLS_PORT = 2375
_TLS_DIR = "/etc/docker/tls"
_TLS_ARGS = (
    f"--host=tcp://0.0.0.0:{ENGINE_TLS_PORT} --tlsverify --tlscacert={_TLS_DIR}/ca.pem"
    f" --tlscert={_TLS_DIR}/cert.pem --tlskey={_TLS_DIR}/key.pem"
)


@functools.cache
def client() -> docker.DockerClient:
    return docker.DockerClient(base_url=settings.SANDBOX_ENGINE, timeout=120, max_pool_size=32)


@functools.cache
def data_root() -> str:
    """Return the directory in which the engine keeps containers and volumes (the sandboxes' disks)."""
    try:
        return str(client().info()["DockerRootDir"])
    except (*ENGINE_ERRORS, KeyError) as e:
        raise EngineError(f"the sandbox engine at {settings.SANDBOX_ENGINE} does not answer: {e}") from e


def ping() -> bool:
    try:
        return bool(client().ping())
    except (*ENGINE_ERRORS, OSError):
        return False


def _labels(session_id: str, role: str, instance: str = "") -> dict[str, str]:
    labels = {LABEL_SESSION: session_id, LABEL_ROLE: role, LABEL_DEPLOYMENT: settings.SANDBOX_DEPLOYMENT}
    if instance:
        labels[LABEL_INSTANCE] = instance
    return labels


def network_name(session_id: str) -> str:
    return f"pg-{session_id}"


def bridge_name(session_id: str) -> str:
    """Return the host interface of a session's network: BRIDGE_PREFIX and 12 characters (a name holds 15)."""
    return f"{BRIDGE_PREFIX}{session_id[:12]}"


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
    """Create the bridge network private to one session, on a free subnet of the pool."""
    try:
        used = _used_subnets()
    except ENGINE_ERRORS as e:
        raise EngineError(f"could not list the engine's networks: {e}") from e
    pool = ipaddress.ip_network(settings.SANDBOX_SUBNET_POOL)
    free = [
        subnet
        for subnet in pool.subnets(new_prefix=settings.SESSION_SUBNET_PREFIX)
        if not any(subnet.overlaps(u) for u in used)
    ]
    # A random free subnet, not the first: addresses an ended session used are not handed out again at once,
    # so nothing still pointing at them (a cached route, an old tunnel) meets the next session's instances.
    random.shuffle(free)
    for subnet in free:
        ipam = IPAMConfig(pool_configs=[IPAMPool(subnet=str(subnet))])
        try:
            client().api.create_network(
                network_name(session_id),
                driver="bridge",
                ipam=ipam,
                check_duplicate=True,
                labels=_labels(session_id, "session-network"),
                # The platform's firewall rules (sessions/firewall.py) match session bridges by this prefix.
                options={"com.docker.network.bridge.name": bridge_name(session_id)},
            )
            return
        except APIError as e:
            # Another process took this subnet between our listing and our create: try the next one.
            if "overlap" in str(e).lower():
                continue
            raise EngineError(f"could not create the session network: {e.explanation}") from e
    raise OutOfCapacity("no free subnet left in SANDBOX_SUBNET_POOL")


SECCOMP_PROFILE = Path(settings.BASE_DIR) / "compose" / "engine" / "seccomp.json"


@functools.cache
def _seccomp() -> str:
    return SECCOMP_PROFILE.read_text()


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


def _security() -> dict[str, Any]:
    """Return what a docker-in-docker sandbox needs on top of a user namespace, and nothing more."""
    return {
        # Both in the sandbox's own user namespace: mounts and networks of its own, nothing of the host's.
        "cap_add": ["SYS_ADMIN", "NET_ADMIN"],
        # Docker's default profile (it widens itself for CAP_SYS_ADMIN), plus pivot_root for the inner runc, and
        # the keyring calls answered ENOSYS; see compose/engine/seccomp.json.
        "security_opt": [f"seccomp={_seccomp()}", "apparmor=unconfined"],
        # /proc/sys stays writable as a whole because the inner engine writes /proc/sys/net; what is not the
        # sandbox's own there is refused by the user namespace anyway.
        "ReadonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sysrq-trigger"],
        # The engine's default masks, and what would tell a sandbox about the others (their disks' paths) or
        # about the kernel's memory layout.
        "MaskedPaths": [
            *("/proc/" + p for p in ("asound", "acpi", "kcore", "keys", "latency_stats", "timer_list")),
            *("/proc/" + p for p in ("timer_stats", "sched_debug", "scsi")),
            "/sys/firmware",
            "/sys/block",
            "/sys/devices/virtual/block",
            "/sys/kernel/vmcoreinfo",
        ],
    }


def run_sandbox(spec: SandboxSpec) -> str:
    """Start a docker-in-docker container and return its IP on the session network."""
    api = client().api
    volume = volume_name(spec.name)
    net = network_name(spec.session_id)
    check_user_namespaces()
    security = _security()
    # docker-py has no argument for these; they go into the host config as the engine names them.
    paths = {key: security.pop(key) for key in ("ReadonlyPaths", "MaskedPaths")}
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
            # Started again after the engine or the host restarts; an ended session removes it.
            restart_policy={"Name": "unless-stopped"},
            # The tty is the learner's terminal: logging it would copy every byte to disk (unbounded, and it
            # halves terminal throughput). Terminals keep the recent screen themselves (terminals/hub.py).
            log_config=LogConfig(type=LogConfig.types.NONE),
            **security,
        )
        host_config.update(paths)
        api.create_container(
            spec.image,
            name=spec.name,
            hostname=spec.hostname,
            tty=True,
            stdin_open=True,
            environment=sandbox_environment(spec),
            labels=_labels(spec.session_id, "sandbox", spec.name),
            host_config=host_config,
        )
        files = {**spec.files, **(_tls_files(spec.tls) if spec.tls else {})}
        if files:
            # In place before the entrypoint starts dockerd with them.
            api.put_archive(spec.name, "/", _tar(files))
        api.start(spec.name)
        return str(api.inspect_container(spec.name)["NetworkSettings"]["Networks"][net]["IPAddress"])
    except ImageNotFound as e:
        remove_sandbox(spec.name)
        raise EngineError(f"image {spec.image} is not on this engine; run the set-up to build it") from e
    except (*ENGINE_ERRORS, KeyError) as e:
        remove_sandbox(spec.name)
        raise EngineError(f"could not start the sandbox: {e}") from e


def sandbox_environment(spec: SandboxSpec) -> dict[str, str]:
    """Return the sandbox's environment: the learner's, then what the platform sets, which wins."""
    own = {
        # Read by the sandbox runtime (compose/engine/sandbox-runtime): the size of the sandbox's own disk.
        "PLAYGROUND_DISK_MB": str(settings.SANDBOX_DISK_MB),
        # Read by the entrypoint: serve the inner engine over TLS when the sandbox has certificates.
        "DOCKERD_ARGS": _TLS_ARGS if spec.tls else "",
    }
    return {**spec.env, **own}


def _tls_files(tls: EngineTls) -> dict[str, bytes]:
    """Return the engine's CA, certificate and key as files for the sandbox."""
    return {
        f"{_TLS_DIR}/ca.pem": tls.ca_cert.encode(),
        f"{_TLS_DIR}/cert.pem": tls.server_cert.encode(),
        f"{_TLS_DIR}/key.pem": tls.server_key.encode(),
    }


EXEC_OUTPUT_LIMIT = 256 * 1024


class ExecCutShort(EngineError):
    """A command inside a sandbox outran its deadline or printed more than its limit; it was stopped."""


@functools.cache
def _client_with_timeout(seconds: int) -> docker.APIClient:
    return docker.APIClient(base_url=settings.SANDBOX_ENGINE, timeout=seconds)


def exec_run(name: str, cmd: list[str], timeout: float = 60.0, limit: int = EXEC_OUTPUT_LIMIT) -> tuple[int, bytes]:
    """Run a command inside a sandbox; return its exit code (-1 if unknown) and output, or raise ExecCutShort."""
    # A learner owns everything inside the sandbox, its `docker` binary included: the deadline holds even when
    # the command prints nothing, and output past the limit is never read.
    deadline = time.monotonic() + timeout
    # Whole seconds: one client per distinct timeout is kept.
    api = _client_with_timeout(max(1, math.ceil(timeout)))
    try:
        exec_id = api.exec_create(name, cmd)["Id"]
        output = _exec_output(api, exec_id, deadline, limit)
        return _exec_exit_code(api, exec_id, deadline), output
    except ExecCutShort as e:
        _kill_exec(api, exec_id)
        raise ExecCutShort(f"{cmd[0]} in {name}: {e}") from None
    except (*ENGINE_ERRORS, EngineError, OSError) as e:
        raise EngineError(f"exec in {name} failed: {e}") from e


def _exec_output(api: docker.APIClient, exec_id: str, deadline: float, limit: int) -> bytes:
    """Start the exec and return its stdout and stderr once it ends; raise ExecCutShort past deadline or limit."""
    body = json.dumps({"Detach": False, "Tty": False}).encode()
    head = (
        f"POST /v{api.api_version}/exec/{exec_id}/start HTTP/1.1\r\nHost: docker\r\n"
        f"Content-Type: application/json\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    with _engine_socket(deadline) as sock:
        sock.sendall(head.encode() + body)
        received = bytearray()
        while b"\r\n\r\n" not in received:
            chunk = _recv(sock, deadline)
            if not chunk:
                raise EngineError("the engine hung up before starting it")
            received += chunk
        status, _, received = received.partition(b"\r\n\r\n")
        if b" 101 " not in status and b" 200 " not in status:
            raise EngineError(status.split(b"\r\n")[0].decode(errors="replace"))
        output = bytearray()
        # Frames of stdout and stderr: 8 bytes of header (the stream, then the size), then the data.
        while True:
            while len(received) >= 8 and len(received) >= 8 + int.from_bytes(received[4:8], "big"):
                size = int.from_bytes(received[4:8], "big")
                output += received[8 : 8 + size]
                del received[: 8 + size]
            if len(output) + max(len(received) - 8, 0) > limit:
                raise ExecCutShort(f"printed more than {limit} bytes")
            chunk = _recv(sock, deadline)
            if not chunk:
                return bytes(output)
            received += chunk


def _engine_address() -> str | tuple[str, int]:
    """Return where the engine listens: a unix socket's path, or a host and port."""
    url = settings.SANDBOX_ENGINE
    if url.startswith("unix://"):
        return url.removeprefix("unix://")
    host, _, port = url.removeprefix("tcp://").rpartition(":")
    return host, int(port)


def _engine_socket(deadline: float) -> socket.socket:
    timeout = max(deadline - time.monotonic(), 0.001)
    address = _engine_address()
    if not isinstance(address, str):
        return socket.create_connection(address, timeout=timeout)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(address)
    except OSError:
        sock.close()
        raise
    return sock


def _recv(sock: socket.socket, deadline: float) -> bytes:
    """Read what has arrived, waiting no later than the deadline; b"" at the end of the stream."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise ExecCutShort("did not finish in time")
    sock.settimeout(remaining)
    try:
        return sock.recv(64 * 1024)
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


def _kill_exec(api: docker.APIClient, exec_id: str) -> None:
    """Kill a cut-short exec's process group, when this host sees the engine's processes; else leave it be."""
    # The engine has no way to stop an exec. Its process leads its own process group, so killing the group
    # takes the children (`docker ps` under `sh -c`) too. The pid is checked to be in the container's cgroup:
    # a remote engine's pids, or a pid reused since, name some other process here.
    try:
        info = api.exec_inspect(exec_id)
        pid, container = int(info.get("Pid") or 0), str(info["ContainerID"])
        if not info["Running"] or pid <= 0 or container not in Path(f"/proc/{pid}/cgroup").read_text():
            return
        os.killpg(pid, signal.SIGKILL)
    except (*ENGINE_ERRORS, OSError, KeyError, ValueError) as e:
        log.info("could not stop exec %s: %s", exec_id, e)


def wait_ready(name: str, timeout: float) -> None:
    """Return once the sandbox's inner `docker info` succeeds; raise NotReady after timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            code, _ = exec_run(name, ["docker", "info"], timeout=max(1.0, min(10.0, deadline - time.monotonic())))
        except EngineError:
            code = -1
            if not _is_running(name):
                raise NotReady(f"{name} stopped while starting: {_exit_state(name)}") from None
        if code == 0:
            return
        time.sleep(0.1)
    raise NotReady(f"{name}: the inner Docker engine did not answer within {timeout:.0f}s")


def _is_running(name: str) -> bool:
    try:
        return bool(client().api.inspect_container(name)["State"]["Running"])
    except ENGINE_ERRORS:
        return False


def _exit_state(name: str) -> str:
    try:
        state = client().api.inspect_container(name)["State"]
    except ENGINE_ERRORS:
        return "it is gone"
    return f"exit code {state.get('ExitCode')}" + (f", {state['Error']}" if state.get("Error") else "")


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
    except ENGINE_ERRORS as e:
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
    except ENGINE_ERRORS as e:
        errors.append(f"listing objects of session {session_id}: {e}")
    _raise_if_any(errors)


def _raise_if_any(errors: list[str | None]) -> None:
    messages = [e for e in errors if e]
    if messages:
        raise EngineError("; ".join(messages))


@dataclass(frozen=True)
class LabelledObject:
    kind: str  # "container", "volume" or "network"
    name: str
    session_id: str
    instance: str
    created: datetime
    stopped: bool = False  # a container that exited (or died) and is not being restarted
    paused: bool = False


def deployment_objects() -> list[LabelledObject]:
    """List this deployment's session-owned containers, volumes and networks with their labels and age."""
    api = client().api
    flt = {"label": [f"{LABEL_DEPLOYMENT}={settings.SANDBOX_DEPLOYMENT}", LABEL_SESSION]}
    try:
        found = [
            *(
                ("container", c["Id"], c["Labels"], datetime.fromtimestamp(c["Created"], UTC), c["State"])
                for c in api.containers(all=True, filters=flt)
            ),
            *(
                ("volume", v["Name"], v["Labels"], _timestamp(v["CreatedAt"]), "")
                for v in api.volumes(filters=flt).get("Volumes") or []
            ),
            *(("network", n["Id"], n["Labels"], _timestamp(n["Created"]), "") for n in api.networks(filters=flt)),
        ]
    except ENGINE_ERRORS as e:
        raise EngineError(f"could not list labelled objects: {e}") from e
    return [
        LabelledObject(
            kind,
            name,
            labels[LABEL_SESSION],
            labels.get(LABEL_INSTANCE, ""),
            created,
            stopped=state in ("exited", "dead"),
            paused=state == "paused",
        )
        for kind, name, labels, created, state in found
    ]


def disk_used_bytes(name: str) -> int:
    """Return how much of the host's disk a sandbox's own disk takes (0 when it has none here)."""
    image = Path(data_root()) / "volumes" / volume_name(name) / "disk.img"
    try:
        return image.stat().st_blocks * 512
    except OSError:
        return 0


def freeze_sandbox(name: str, message: str) -> None:
    """Pause every process of a sandbox, after telling its terminal why."""
    # Through the tty its PID 1 holds, so whoever watches the terminal reads it; a sandbox that does not let
    # the message through within the deadline is frozen all the same.
    line = f"\r\n[playground] {message}\r\n"
    try:
        exec_run(name, ["sh", "-c", 'printf "%s" "$0" > /proc/1/fd/1', line], timeout=2)
    except EngineError as e:
        log.info("could not tell %s why it is frozen: %s", name, e)
    try:
        client().api.pause(name)
    except ENGINE_ERRORS as e:
        raise EngineError(f"could not freeze {name}: {e}") from e


def thaw_sandbox(name: str) -> None:
    try:
        client().api.unpause(name)
    except ENGINE_ERRORS as e:
        raise EngineError(f"could not thaw {name}: {e}") from e


def start_sandbox(name: str, network: str) -> str:
    """Start a sandbox that stopped (a host reboot, a kill) and return its address on the network."""
    # Its disk and volume are as it left them.
    api = client().api
    try:
        api.start(name)
        return str(api.inspect_container(name)["NetworkSettings"]["Networks"][network]["IPAddress"])
    except (*ENGINE_ERRORS, KeyError) as e:
        raise EngineError(f"could not start {name} again: {e}") from e


def labelled_objects(session_id: str | None = None) -> dict[str, list[str]]:
    """List the names of this deployment's containers, volumes and networks (optionally of one session)."""
    listing: dict[str, list[str]] = {"containers": [], "volumes": [], "networks": []}
    for o in deployment_objects():
        if session_id in (None, o.session_id):
            listing[f"{o.kind}s"].append(o.name)
    return listing


def remove_objects(objects: list[LabelledObject]) -> None:
    """Remove these containers, then volumes, then networks; raise EngineError if any remains."""
    api = client().api
    removers = {
        "container": functools.partial(api.remove_container, force=True, v=True),
        "volume": functools.partial(api.remove_volume, force=True),
        "network": api.remove_network,
    }
    errors = [
        _remove_quietly(f"{o.kind} {o.name}", removers[o.kind], o.name)
        for o in sorted(objects, key=lambda o: list(removers).index(o.kind))
    ]
    _raise_if_any(errors)


def _timestamp(text: str) -> datetime:
    """Parse the engine's RFC 3339 times, whose nanoseconds Python does not read."""
    return datetime.fromisoformat(re.sub(r"(\.\d{6})\d*", r"\1", text))


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
    except ENGINE_ERRORS as e:
        raise EngineError(f"docker import failed: {e}") from e


def _tar(files: dict[str, bytes]) -> bytes:
    """Pack files (absolute path -> content), readable by root only, as a tar rooted at /."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path, content in files.items():
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size = len(content)
            info.mode = 0o600
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
        # A concurrent start (the mirror's and the offline notice's processes, say) created it first: the engine
        # answers 409 for the name, or "Pool overlaps" for the subnet while the other create is still landing.
        for _ in range(20):
            if _network_exists(name):
                return
            time.sleep(0.1)
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
    except ENGINE_ERRORS as e:
        raise EngineError(f"push of {repository} failed: {e}") from e


def remove_image(image: str) -> None:
    """Remove an image tag from the engine (the image goes once no tag names it)."""
    error = _remove_quietly(f"image {image}", client().api.remove_image, image)
    _raise_if_any([error])


# Async callers (consumers, the ssh gateway) reach the blocking SDK through this bounded pool.
_EXECUTOR = ThreadPoolExecutor(max_workers=16, thread_name_prefix="engine")


async def run_blocking(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a blocking engine call off the event loop, in a bounded pool."""
    return await asyncio.get_running_loop().run_in_executor(_EXECUTOR, functools.partial(fn, *args, **kwargs))


@dataclass
class ExecStream:
    """A process started inside a sandbox, with its stdio as a raw asyncio stream."""

    exec_id: str
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    tty: bool

    async def resize(self, cols: int, rows: int) -> None:
        """Resize a tty exec's window; a process that has already ended has no window left to resize."""
        try:
            await run_blocking(client().api.exec_resize, self.exec_id, height=rows, width=cols)
        except ENGINE_ERRORS as e:
            log.debug("resize of exec %s skipped: %s", self.exec_id, e)

    async def exit_code(self) -> int | None:
        """Return the exit code once the process has ended, else None."""
        info = await run_blocking(client().api.exec_inspect, self.exec_id)
        return None if info["Running"] else info["ExitCode"]

    async def read_frame(self) -> tuple[int, bytes]:
        """Read one (stream, data) frame of a non-tty exec: stream 1 is stdout, 2 stderr; (0, b"") at the end."""
        try:
            header = await self.reader.readexactly(8)
            stream, size = header[0], struct.unpack(">I", header[4:])[0]
            return stream, await self.reader.readexactly(size)
        except asyncio.IncompleteReadError:
            return 0, b""

    def close(self) -> None:
        self.writer.close()

    async def pipe_output(self, protocol: ExecOutput) -> None:
        """Hand the connection to protocol, which gets all output from now on, starting with any already read.

        Writing stdin goes on through writer, but without drain(): flow control now reaches protocol instead.
        """
        transport = cast(asyncio.Transport, self.writer.transport)
        # Paused, no output arrives between the reader's last bytes and the protocol's first.
        transport.pause_reading()
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        self.reader.feed_eof()
        early = memoryview(await self.reader.read())
        if not transport.is_closing():
            # Nothing arrives before the early bytes below: callbacks run only after this returns. A socket
            # already at its end reports the end again, now to protocol.
            transport.resume_reading()
        while early:
            room = protocol.get_buffer(len(early))
            n = min(len(room), len(early))
            room[:n] = early[:n]
            protocol.buffer_updated(n)
            early = early[n:]
        if transport.is_closing():
            protocol.connection_lost(None)


async def open_exec(
    name: str, cmd: list[str], *, tty: bool = True, env: dict[str, str] | None = None, workdir: str | None = None
) -> ExecStream:
    """Start cmd inside the sandbox and return its stdin/stdout as a hijacked, non-blocking stream."""
    try:
        created = await run_blocking(
            client().api.exec_create, name, cmd, stdin=True, tty=tty, environment=env, workdir=workdir
        )
    except ENGINE_ERRORS as e:
        raise EngineError(f"could not start {cmd[0]} in {name}: {e}") from e
    exec_id = created["Id"]
    body = json.dumps({"Detach": False, "Tty": tty}).encode()
    reader, writer = await _hijack(f"/exec/{exec_id}/start", body, f"{cmd[0]} in {name}")
    return ExecStream(exec_id, reader, writer, tty)


@dataclass
class TtyStream:
    """A sandbox's own terminal (the tty of its PID 1), attached as a raw asyncio stream."""

    name: str
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    async def resize(self, cols: int, rows: int) -> None:
        """Resize the sandbox's terminal; one that has stopped has no terminal left to resize."""
        try:
            await run_blocking(client().api.resize, self.name, height=rows, width=cols)
        except ENGINE_ERRORS as e:
            log.debug("resize of %s skipped: %s", self.name, e)

    def close(self) -> None:
        self.writer.close()


async def open_tty(name: str) -> TtyStream:
    """Attach to the sandbox's own terminal: what is written reaches its shell, what it prints is read back."""
    # No logs=1: the engine keeps no log of the tty (see run_sandbox), and PWD's replay of it was its bug #557.
    # The engine swallows its detach keys (by default ^P^Q, holding back every ^P); none can be turned off, so
    # these are ones nobody types.
    query = "stream=1&stdin=1&stdout=1&stderr=1&detachKeys=ctrl-^,ctrl-@,ctrl-^"
    reader, writer = await _hijack(f"/containers/{name}/attach?{query}", b"", f"the terminal of {name}")
    return TtyStream(name, reader, writer)


async def _open_engine_connection() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    address = _engine_address()
    if isinstance(address, str):
        return await asyncio.open_unix_connection(address)
    return await asyncio.open_connection(*address)


async def _hijack(path: str, body: bytes, what: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """POST to an engine endpoint that upgrades to a raw stream, and return that stream."""
    try:
        # The first client() of a process asks the engine for its API version: a blocking call.
        version = await run_blocking(lambda: client().api.api_version)
        reader, writer = await _open_engine_connection()
    except (*ENGINE_ERRORS, OSError) as e:
        raise EngineError(f"could not attach to {what}: {e}") from e
    head = (
        f"POST /v{version}{path} HTTP/1.1\r\nHost: docker\r\n"
        f"Content-Type: application/json\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    try:
        writer.write(head.encode() + body)
        await writer.drain()
        status = await reader.readline()
        while (await reader.readline()) not in (b"\r\n", b""):
            pass  # the remaining response headers
    except OSError as e:
        writer.close()
        raise EngineError(f"could not attach to {what}: {e}") from e
    if b" 101 " not in status and b" 200 " not in status:
        writer.close()
        raise EngineError(f"could not attach to {what}: {status.decode(errors='replace').strip()}")
    return reader, writer


async def wait_exit_code(stream: ExecStream, timeout: float = 2.0) -> int | None:
    """Return the exit code of a process whose output has ended; None when the engine cannot tell in time."""
    # The engine closes the output a moment before it records the exit code.
    deadline = time.monotonic() + timeout
    while True:
        try:
            code = await stream.exit_code()
        except ENGINE_ERRORS:
            return None
        if code is not None or time.monotonic() >= deadline:
            return code
        await asyncio.sleep(0.01)


# An exec's output is read into one buffer of this size (grown only for a larger frame), at least this much a read.
_OUTPUT_BUFFER = 1 << 20
_MIN_READ = 64 * 1024


class ExecOutput(asyncio.BufferedProtocol):
    """Receive an exec's output straight from its socket, each run of stdout or stderr bytes in one call.

    Subclasses implement output(). Compared with a stream reader this skips a task switch and several copies
    per chunk, which is most of what a proxy in Python spends per byte (see BENCHMARKS.md, SSH gateway).
    """

    def __init__(self, tty: bool) -> None:
        self.tty = tty
        self.transport: asyncio.Transport | None = None
        self.ended: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._buffer = bytearray(_OUTPUT_BUFFER)
        self._start = self._end = 0

    def output(self, kind: int, data: bytes) -> None:
        """Take the next bytes of stdout (kind 1, and all output of a tty) or of stderr (kind 2)."""
        raise NotImplementedError

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def get_buffer(self, sizehint: int) -> memoryview:
        if len(self._buffer) - self._end < _MIN_READ:
            self._make_room()
        return memoryview(self._buffer)[self._end :]

    def buffer_updated(self, nbytes: int) -> None:
        self._end += nbytes
        if self.tty:
            data = bytes(self._buffer[self._start : self._end])
            self._start = self._end = 0
            self.output(1, data)
            return
        runs = self._complete_frames()
        for kind, parts in runs:
            self.output(kind, b"".join(parts))

    def _complete_frames(self) -> list[tuple[int, list[memoryview]]]:
        """Consume every complete frame in the buffer, merged into runs of the same stream."""
        view = memoryview(self._buffer)
        runs: list[tuple[int, list[memoryview]]] = []
        pos, end = self._start, self._end
        while end - pos >= 8:
            kind, size = view[pos], int.from_bytes(view[pos + 4 : pos + 8], "big")
            if end - pos - 8 < size:
                break
            if runs and runs[-1][0] == kind:
                runs[-1][1].append(view[pos + 8 : pos + 8 + size])
            else:
                runs.append((kind, [view[pos + 8 : pos + 8 + size]]))
            pos += 8 + size
        # Views into the buffer stay valid: the frames consumed are only overwritten by later reads.
        self._start, self._end = (0, 0) if pos == end else (pos, end)
        return runs

    def _make_room(self) -> None:
        pending = self._buffer[self._start : self._end]
        needed = len(pending) + _MIN_READ
        if len(pending) >= 8:
            needed = max(needed, 8 + int.from_bytes(pending[4:8], "big"))
        if needed > len(self._buffer):
            self._buffer = bytearray(max(needed, 2 * len(self._buffer)))
        self._buffer[: len(pending)] = pending
        self._start, self._end = 0, len(pending)

    def eof_received(self) -> bool:
        self._end_output()
        return False  # closes the connection: the process has ended, there is nothing more to write to it

    def connection_lost(self, exc: Exception | None) -> None:
        self._end_output()

    def _end_output(self) -> None:
        if not self.ended.done():
            self.ended.set_result(None)
