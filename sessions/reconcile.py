"""The sweep: bring the database and the Docker Engine back in step, whatever crashed in between.

The database says what should exist; the labels on this deployment's containers, volumes and networks say what
does. No in-process timer is load-bearing: every run starts from those two sources alone.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

import engine
from engine import sandboxes
from engine.daemon import Daemon
from sessions import capacity, engines, lifecycle
from sessions.models import Instance, Session

log = logging.getLogger(__name__)


def sweep() -> None:
    """Repair what drifted between the database and the engine."""
    now = timezone.now()
    Instance.objects.stuck(now).update(state=Instance.State.GONE)
    # Read the running rows before listing the engine: an instance that starts running after the listing
    # must not look vanished.
    running = list(Instance.objects.reachable().select_related("session__engine"))
    # Not an engine that is down: it does not answer, and its sessions were ended (sessions/engines.py); the
    # sweep after it answers again removes what they left there.
    for target in dict.fromkeys(e.daemon for e in engines.all_engines() if e.down_since is None):
        try:
            sweep_engine(target, [i for i in running if i.session.daemon == target], now)
        except Exception:
            # One engine's failure must stop neither the other engines' sweeps nor the endings scheduled after.
            log.exception("the sweep of the engine at %s failed; the next sweep tries again", target.url)


def sweep_engine(target: Daemon, running: list[Instance], now: datetime) -> None:
    """Repair what drifted between the database and one engine, given the instances that run on it."""
    try:
        objects = sandboxes.deployment_objects(target)
    except engine.EngineError:
        log.exception("the sweep cannot list the objects of the engine at %s; only ending sessions", target.url)
        return
    containers = {o.instance: o for o in objects if o.kind == "container"}
    for instance in running:
        container = containers.get(instance.name)
        if container is None:
            lifecycle.forget_vanished(instance)
        elif container.stopped:
            lifecycle.revive(instance)
    remove_orphans(target, objects, now)
    guard_disk(target, [i for i in running if i.name in containers], containers)


def guard_disk(target: Daemon, running: list[Instance], containers: dict[str, sandboxes.LabelledObject]) -> None:
    """Keep the host's free disk above the reserve: freeze the sandbox that takes most, thaw all once it is back.

    Sandboxes' disks are sparse, so together they may promise more than the host has; new instances are refused
    below SANDBOX_DISK_RESERVE_MB, and this stops those already running from taking the rest.
    """
    try:
        free = capacity.disk_free_mb(target.data_root())
        if free is None:
            return
        if free >= settings.SANDBOX_DISK_RESERVE_MB:
            for instance in running:
                if containers[instance.name].paused:
                    sandboxes.thaw_sandbox(target, instance.name)
                    log.warning("disk space is back (%d MiB free): thawed %s", free, instance.name)
        elif free < settings.SANDBOX_DISK_RESERVE_MB // 2:
            awake = [i for i in running if not containers[i.name].paused]
            if awake:
                hog = max(awake, key=lambda i: sandboxes.disk_used_bytes(target, i.name))
                message = "this server is short of disk space: this instance is frozen until there is room again"
                sandboxes.freeze_sandbox(target, hog.name, message)
                log.warning("only %d MiB of disk left: froze %s, the largest", free, hog.name)
    except (engine.EngineError, OSError):
        log.exception("could not guard the host's disk space; the next sweep tries again")


def remove_orphans(target: Daemon, objects: list[sandboxes.LabelledObject], now: datetime) -> None:
    """Remove labelled objects whose session ended or never existed, or whose instance is gone."""
    # Only objects older than the grace period count: a session's or instance's row is inserted before its
    # objects are created, but may not be committed yet. The rows are read after the engine was listed, so an
    # object that existed then has its row visible now.
    old = [o for o in objects if o.created <= now - timedelta(seconds=settings.ORPHAN_GRACE)]
    states = dict(Session.objects.filter(pk__in={o.session_id for o in old}).values_list("pk", "state"))
    live_instances = set(
        Instance.objects.filter(name__in={o.instance for o in old if o.instance})
        .exclude(state=Instance.State.GONE)
        .values_list("name", flat=True)
    )

    def orphaned(o: sandboxes.LabelledObject) -> bool:
        state = states.get(o.session_id, Session.State.ENDED)
        if state == Session.State.ENDING:
            return False  # its ending removes it, or the sweep retries that ending once its claim lapses
        return state == Session.State.ENDED or bool(o.instance and o.instance not in live_instances)

    orphans = [o for o in old if orphaned(o)]
    if not orphans:
        return
    log.warning("removing %d orphaned objects: %s", len(orphans), ", ".join(f"{o.kind} {o.name}" for o in orphans))
    try:
        sandboxes.remove_objects(target, orphans)
    except engine.EngineError:
        log.exception("could not remove every orphan; the next sweep tries again")
