"""Session networks, and the sandboxes' containers from start to removal, found again by their labels."""

from __future__ import annotations

import functools
import io
import ipaddress
import logging
import random
import re
import tarfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from docker.errors import APIError, ImageNotFound
from docker.types import IPAMConfig, IPAMPool, LogConfig

from engine import ENGINE_ERRORS, EngineError, NotReady, OutOfCapacity, names
from engine.daemon import (
    LABEL_DEPLOYMENT,
    LABEL_INSTANCE,
    LABEL_SESSION,
    Daemon,
    labels,
    raise_if_any,
    remove_quietly,
)
from engine.execs import exec_run
from engine.tls import EngineTls, dockerd_args, tls_files

log = logging.getLogger(__name__)


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


def volume_name(instance_name: str) -> str:
    return f"{instance_name}-docker"


Subnet = ipaddress.IPv4Network | ipaddress.IPv6Network


def _used_subnets(daemon: Daemon, skip: str = "") -> list[Subnet]:
    used = []
    for net in daemon.client().api.networks():
        if net.get("Name") == skip:
            continue
        for cfg in (net.get("IPAM") or {}).get("Config") or []:
            if cfg.get("Subnet"):
                used.append(ipaddress.ip_network(cfg["Subnet"], strict=False))
    return used


def _neighbours_subnets(neighbours: Sequence[Daemon]) -> list[Subnet]:
    """Return the subnets the neighbours use; one that does not answer is down and holds none that matters."""
    used: list[Subnet] = []
    for neighbour in neighbours:
        try:
            used += _used_subnets(neighbour)
        except ENGINE_ERRORS as e:
            log.warning("could not list the networks of the engine at %s: %s", neighbour.url, e)
    return used


def create_session_network(daemon: Daemon, session_id: str, neighbours: Sequence[Daemon] = ()) -> None:
    """Create the bridge network private to one session, on a free subnet of the pool.

    Neighbours are the other engines on the same host: their bridges share its routes, so their subnets are
    taken too.
    """
    try:
        used = _used_subnets(daemon) + _neighbours_subnets(neighbours)
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
            daemon.client().api.create_network(
                names.network(session_id),
                driver="bridge",
                ipam=ipam,
                check_duplicate=True,
                labels=labels(session_id, "session-network"),
                # The platform's firewall rules (sessions/firewall.py) match session bridges by this prefix.
                options={"com.docker.network.bridge.name": names.bridge(session_id)},
            )
        except APIError as e:
            # Another process took this subnet between our listing and our create: try the next one.
            if "overlap" in str(e).lower():
                continue
            raise EngineError(f"could not create the session network: {e.explanation}") from e
        # A neighbour's session took the same subnet at the same moment (engines do not see each other's):
        # give it up and take another; of two that clash, each does, and each picks at random again.
        if any(subnet.overlaps(u) for u in _neighbours_subnets(neighbours)):
            raise_if_any([remove_quietly("network", daemon.client().api.remove_network, names.network(session_id))])
            continue
        return
    raise OutOfCapacity("no free subnet left in SANDBOX_SUBNET_POOL")


SECCOMP_PROFILE = Path(settings.BASE_DIR) / "compose" / "engine" / "seccomp.json"


@functools.cache
def _seccomp() -> str:
    return SECCOMP_PROFILE.read_text()


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


def run_sandbox(daemon: Daemon, spec: SandboxSpec) -> str:
    """Start a docker-in-docker container and return its IP on the session network."""
    api = daemon.client().api
    volume = volume_name(spec.name)
    net = names.network(spec.session_id)
    daemon.check_user_namespaces()
    security = _security()
    # docker-py has no argument for these; they go into the host config as the engine names them.
    paths = {key: security.pop(key) for key in ("ReadonlyPaths", "MaskedPaths")}
    try:
        daemon.client().volumes.create(volume, labels=labels(spec.session_id, "sandbox-storage", spec.name))
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
            labels=labels(spec.session_id, "sandbox", spec.name),
            host_config=host_config,
        )
        files = {**spec.files, **(tls_files(spec.tls) if spec.tls else {})}
        if files:
            # In place before the entrypoint starts dockerd with them.
            api.put_archive(spec.name, "/", _tar(files))
        api.start(spec.name)
        return str(api.inspect_container(spec.name)["NetworkSettings"]["Networks"][net]["IPAddress"])
    except ImageNotFound as e:
        remove_sandbox(daemon, spec.name)
        raise EngineError(f"image {spec.image} is not on this engine; run the set-up to build it") from e
    except (*ENGINE_ERRORS, KeyError) as e:
        remove_sandbox(daemon, spec.name)
        raise EngineError(f"could not start the sandbox: {e}") from e


def sandbox_environment(spec: SandboxSpec) -> dict[str, str]:
    """Return the sandbox's environment: the learner's, then what the platform sets, which wins."""
    own = {
        # Read by the sandbox runtime (compose/engine/sandbox-runtime): the size of the sandbox's own disk.
        "PLAYGROUND_DISK_MB": str(settings.SANDBOX_DISK_MB),
        # Read by the entrypoint: serve the inner engine over TLS when the sandbox has certificates.
        "DOCKERD_ARGS": dockerd_args() if spec.tls else "",
    }
    return {**spec.env, **own}


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


def wait_ready(daemon: Daemon, name: str, timeout: float) -> None:
    """Return once the sandbox's inner `docker info` succeeds; raise NotReady after timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            code, _ = exec_run(
                daemon, name, ["docker", "info"], timeout=max(1.0, min(10.0, deadline - time.monotonic()))
            )
        except EngineError:
            code = -1
            if not _is_running(daemon, name):
                raise NotReady(f"{name} stopped while starting: {_exit_state(daemon, name)}") from None
        if code == 0:
            return
        time.sleep(0.1)
    raise NotReady(f"{name}: the inner Docker engine did not answer within {timeout:.0f}s")


def _is_running(daemon: Daemon, name: str) -> bool:
    try:
        return bool(daemon.client().api.inspect_container(name)["State"]["Running"])
    except ENGINE_ERRORS:
        return False


def _exit_state(daemon: Daemon, name: str) -> str:
    try:
        state = daemon.client().api.inspect_container(name)["State"]
    except ENGINE_ERRORS:
        return "it is gone"
    return f"exit code {state.get('ExitCode')}" + (f", {state['Error']}" if state.get("Error") else "")


def remove_sandbox(daemon: Daemon, name: str) -> None:
    """Remove a sandbox container and its storage volume; raise EngineError if either remains."""
    api = daemon.client().api
    errors = [
        remove_quietly(f"container {name}", api.remove_container, name, force=True, v=True),
        remove_quietly(f"volume {name}", api.remove_volume, volume_name(name), force=True),
    ]
    raise_if_any(errors)


def remove_session_objects(daemon: Daemon, session_id: str) -> None:
    """Remove every container, volume and network labelled with this session; raise if any remains."""
    api = daemon.client().api
    flt = {"label": f"{LABEL_SESSION}={session_id}"}
    errors: list[str | None] = []
    try:
        for c in api.containers(all=True, filters=flt):
            errors.append(remove_quietly(f"container {c['Id']}", api.remove_container, c["Id"], force=True, v=True))
        for v in api.volumes(filters=flt).get("Volumes") or []:
            errors.append(remove_quietly(f"volume {v['Name']}", api.remove_volume, v["Name"], force=True))
        for n in api.networks(filters=flt):
            errors.append(remove_quietly(f"network {n['Id']}", api.remove_network, n["Id"]))
    except ENGINE_ERRORS as e:
        errors.append(f"listing objects of session {session_id}: {e}")
    raise_if_any(errors)


@dataclass(frozen=True)
class LabelledObject:
    kind: str  # "container", "volume" or "network"
    name: str
    session_id: str
    instance: str
    created: datetime
    stopped: bool = False  # a container that exited (or died) and is not being restarted
    paused: bool = False


def deployment_objects(daemon: Daemon) -> list[LabelledObject]:
    """List this deployment's session-owned containers, volumes and networks with their labels and age."""
    api = daemon.client().api
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
            tags[LABEL_SESSION],
            tags.get(LABEL_INSTANCE, ""),
            created,
            stopped=state in ("exited", "dead"),
            paused=state == "paused",
        )
        for kind, name, tags, created, state in found
    ]


def disk_used_bytes(daemon: Daemon, name: str) -> int:
    """Return how much of the host's disk a sandbox's own disk takes (0 when it has none here)."""
    image = Path(daemon.data_root()) / "volumes" / volume_name(name) / "disk.img"
    try:
        return image.stat().st_blocks * 512
    except OSError:
        return 0


def freeze_sandbox(daemon: Daemon, name: str, message: str) -> None:
    """Pause every process of a sandbox, after telling its terminal why."""
    # Through the tty its PID 1 holds, so whoever watches the terminal reads it; a sandbox that does not let
    # the message through within the deadline is frozen all the same.
    line = f"\r\n[playground] {message}\r\n"
    try:
        exec_run(daemon, name, ["sh", "-c", 'printf "%s" "$0" > /proc/1/fd/1', line], timeout=2)
    except EngineError as e:
        log.info("could not tell %s why it is frozen: %s", name, e)
    try:
        daemon.client().api.pause(name)
    except ENGINE_ERRORS as e:
        raise EngineError(f"could not freeze {name}: {e}") from e


def thaw_sandbox(daemon: Daemon, name: str) -> None:
    try:
        daemon.client().api.unpause(name)
    except ENGINE_ERRORS as e:
        raise EngineError(f"could not thaw {name}: {e}") from e


def start_sandbox(daemon: Daemon, name: str, network: str) -> str:
    """Start a sandbox that stopped (a host reboot, a kill) and return its address on the network."""
    # Its disk and volume are as it left them.
    api = daemon.client().api
    try:
        api.start(name)
        return str(api.inspect_container(name)["NetworkSettings"]["Networks"][network]["IPAddress"])
    except (*ENGINE_ERRORS, KeyError) as e:
        raise EngineError(f"could not start {name} again: {e}") from e


def labelled_objects(daemon: Daemon, session_id: str | None = None) -> dict[str, list[str]]:
    """List the names of this deployment's containers, volumes and networks (optionally of one session)."""
    listing: dict[str, list[str]] = {"containers": [], "volumes": [], "networks": []}
    for o in deployment_objects(daemon):
        if session_id in (None, o.session_id):
            listing[f"{o.kind}s"].append(o.name)
    return listing


def remove_objects(daemon: Daemon, objects: list[LabelledObject]) -> None:
    """Remove these containers, then volumes, then networks; raise EngineError if any remains."""
    api = daemon.client().api
    removers = {
        "container": functools.partial(api.remove_container, force=True, v=True),
        "volume": functools.partial(api.remove_volume, force=True),
        "network": api.remove_network,
    }
    errors = [
        remove_quietly(f"{o.kind} {o.name}", removers[o.kind], o.name)
        for o in sorted(objects, key=lambda o: list(removers).index(o.kind))
    ]
    raise_if_any(errors)


def _timestamp(text: str) -> datetime:
    """Parse the engine's RFC 3339 times, whose nanoseconds Python does not read."""
    return datetime.fromisoformat(re.sub(r"(\.\d{6})\d*", r"\1", text))
