"""The pool of engines: where a new session goes, and which engines answer.

A session is placed once, when it starts, on the engine with the most free memory; every instance of it lives
there. The health check pings each engine; one that misses ENGINE_DOWN_AFTER pings in a row is down: no new
session goes there, and its live sessions end at once with a message, rather than hang until they expire.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Q
from django.utils import timezone

import metrics
from engine import EngineError, usage
from engine.daemon import Daemon
from sessions import capacity, events, recordings
from sessions.models import Engine, Instance, Session

log = logging.getLogger(__name__)

MIB = 1024 * 1024
# What the viewers of a session on an engine that went down read, and the session's end reason.
DOWN_MESSAGE = "The machine running this session stopped answering, so the session ended: start a new one."
DOWN_REASON = "engine down"
# Sandboxes of an engine on another host whose memory each health check reads (one-shot stats, side by side,
# drawn at random; their median is kept).
MEMORY_SAMPLE = 20


class NoRoom(Exception):
    """No engine takes a new session now; the message says why."""


@dataclass(frozen=True)
class Load:
    engine: Engine
    sessions: int
    instances: int
    used_bytes: int

    @property
    def free_bytes(self) -> int:
        return self.engine.memory_bytes - self.used_bytes


def all_engines() -> list[Engine]:
    """Return every engine; with none configured, the one made from SANDBOX_ENGINE."""
    return list(Engine.objects.all()) or [Engine.default()]


# GET /ping is open to anyone: its engines are pinged at most once a second per process, however often it is asked.
PING_FRESH_FOR = 1.0
_pinged: dict[str, tuple[float, bool]] = {}
_pinging = threading.Lock()


def answering(pool: list[Engine]) -> dict[str, bool]:
    """Return whether each engine answered a ping within PING_TIMEOUT, pinging those not pinged in the last second."""
    with _pinging:  # the requests of a flood wait for one round of pings instead of each starting its own
        stale = [
            e for e in pool if time.monotonic() - _pinged.get(e.url, (-PING_FRESH_FOR, False))[0] >= PING_FRESH_FOR
        ]
        if stale:
            # At once, so a pool of hung engines answers within one PING_TIMEOUT.
            with ThreadPoolExecutor(max_workers=min(len(stale), 16)) as executor:
                answers = list(executor.map(lambda e: e.daemon.ping(settings.PING_TIMEOUT), stale))
            for engine, up in zip(stale, answers, strict=True):
                _pinged[engine.url] = (time.monotonic(), up)
        return {e.url: _pinged[e.url][1] for e in pool}


def neighbours(engine: Engine) -> list[Daemon]:
    """Return the other engines on the same host, not down: engines on unix sockets here, else on the same host name.

    An engine marked remote (another host's socket forwarded here) has none, and is no one's.
    """
    if engine.remote:
        return []
    here = _host(engine)
    others = Engine.objects.exclude(pk=engine.pk).filter(down_since__isnull=True, remote=False)
    return [e.daemon for e in others if _host(e) == here]


def reachable_here(engine: Engine) -> bool:
    """Tell whether this host may connect to the addresses of the engine's instances (the router, ssh tunnels).

    Engines on this host (unix sockets) never share a subnet (neighbours); an engine on another host may hand
    out the very subnet a session here has, so connecting to one of its instances' addresses from here would
    reach another learner's instance on this host. Only a pool on one single host has no such overlap.
    """
    if engine.is_local:
        return True
    if engine.remote:
        return False  # its socket is forwarded here, its instances' addresses are not
    here = _host(engine)
    return all(_host(e) == here for e in Engine.objects.exclude(pk=engine.pk))


def _host(engine: Engine) -> str:
    where = engine.daemon.address()
    return "" if isinstance(where, str) else where[0]


def per_instance_bytes(engine: Engine | None = None) -> int:
    """Return the memory one instance on the engine is expected to take: the mean of those running there, at least
    the estimate. Engines on this host are measured by its cgroups, others by their last health check's sample."""
    estimate = int(settings.INSTANCE_MEMORY_ESTIMATE_MB) * MIB
    if engine is not None and not engine.is_local:
        measured = engine.instance_bytes or 0
    else:
        on_host = capacity.sandboxes_memory_mb()
        measured = on_host[0] * MIB // on_host[1] if on_host and on_host[1] else 0
    # Never below an idle instance's: sandboxes still booting, or whose learners killed their inner engine (root
    # there may), hold a few MiB each, and a mean of those would let an engine take hundreds more.
    return max(estimate, measured)


def loads(engines: list[Engine]) -> list[Load]:
    """Return what each engine holds: its live sessions, their instances, and the memory they are expected to take."""
    rows = (
        Session.objects.live()
        .filter(engine__in=engines)
        .values_list("pk", "engine_id", "created_at")  # one row per session
        .annotate(n=Count("instances", filter=~Q(instances__state=Instance.State.GONE)))
    )
    starting = timezone.now() - timedelta(seconds=settings.PROVISIONING_TIMEOUT)
    sessions: dict[int, int] = {}
    instances: dict[int, int] = {}
    reserved: dict[int, int] = {}
    for _pk, engine_id, created_at, n in rows:
        sessions[engine_id] = sessions.get(engine_id, 0) + 1
        instances[engine_id] = instances.get(engine_id, 0) + n
        # A session just started that has no instance yet is about to start one: it holds that much already, so
        # ten sessions started at once spread over the pool instead of all landing on the emptiest engine. Not
        # one older: empty sessions cost nothing, and an address may hold SESSIONS_PER_CLIENT of them (an IPv6
        # client one per /64 of its prefix), so reserving room for each filled every engine for nothing.
        reserved[engine_id] = reserved.get(engine_id, 0) + (max(n, 1) if created_at >= starting else n)
    return [
        Load(e, sessions.get(e.pk, 0), instances.get(e.pk, 0), reserved.get(e.pk, 0) * per_instance_bytes(e))
        for e in engines
    ]


def place() -> Engine:
    """Return the engine a new session goes on: up, enabled, not draining, with the most free memory.

    Called in the transaction that inserts the session: the engines' rows stay locked until it ends, so the next
    start waits and counts this one (SQLite runs such transactions one at a time anyway).
    """
    # FOR NO KEY UPDATE: rows that point at an engine (a session's insert checks its key) need not wait for it.
    engines = list(Engine.objects.select_for_update(no_key=True).order_by("pk")) or [Engine.default()]
    open_ = [e for e in engines if e.state == "up"]
    if not open_:
        states = ", ".join(f"{e.name} {e.state}" for e in engines)
        raise NoRoom(f"no sandbox engine takes new sessions now ({states}); try again in a few minutes")
    best = max(loads(open_), key=lambda load: (load.free_bytes, -load.engine.pk))
    if best.free_bytes < per_instance_bytes(best.engine):
        raise NoRoom("every sandbox engine is full; try again in a few minutes")
    return best.engine


def room_for_instance(engine: Engine, count: int = 1) -> str | None:
    """Return why `count` more instances do not fit on the engine, or None when they fit."""
    per_instance = per_instance_bytes(engine)
    (load,) = loads([engine])
    # The session asking holds one instance's room already while it has none (see loads).
    used = load.instances * per_instance
    if used + count * per_instance > engine.memory_bytes:
        return (
            f"the sandbox engine {engine.name} is full ({load.instances} instances, "
            f"{engine.memory_bytes // MIB} MiB for sandboxes)"
        )
    return None


def check_all() -> None:
    """Ping every engine; mark one down after ENGINE_DOWN_AFTER failures in a row and end its sessions; up again
    once it answers."""
    pool = list(Engine.objects.all())
    if not pool:
        return
    # Side by side: hung engines cost one PING_TIMEOUT together, not one each, before the engines behind them.
    with ThreadPoolExecutor(max_workers=min(len(pool), 16)) as executor:
        answers = list(executor.map(_look, pool))
    for engine, (answer, memory) in zip(pool, answers, strict=True):
        # One engine's trouble (its database rows, an unforeseen error of its client) must not leave the others
        # unchecked: a down engine behind it would never be marked down.
        try:
            if isinstance(answer, Exception):
                raise answer
            record(engine, answer)
            if memory is not None and memory != engine.instance_bytes:
                Engine.objects.filter(pk=engine.pk).update(instance_bytes=memory)
        except Exception:
            log.exception("the health check of the sandbox engine %s failed", engine.name)


def _look(engine: Engine) -> tuple[str | None | Exception, int | None]:
    """Ping the engine: return why it does not answer (None when it does) or the error asking it raised, and, for
    an engine on another host that answers, the mean memory of a sample of its sandboxes (None: not measured)."""
    try:
        problem = engine.daemon.problem(settings.PING_TIMEOUT)
    except Exception as e:
        return e, None
    if problem is not None or engine.is_local:
        return problem, None
    try:
        return None, usage.sandboxes_memory(engine.daemon, MEMORY_SAMPLE, settings.PING_TIMEOUT)
    except EngineError as e:
        log.info("could not measure the sandboxes of the engine %s: %s", engine.name, e)
        return None, None


def check(engine: Engine) -> None:
    """Ping one engine and record what it answered."""
    record(engine, engine.daemon.problem(settings.PING_TIMEOUT))


def record(engine: Engine, problem: str | None) -> None:
    """Record what the engine answered a ping: the problem, or None when it answered."""
    if problem is None:
        if engine.down_since is not None or engine.failed_pings:
            if engine.down_since is not None:
                log.warning("the sandbox engine %s answers again", engine.name)
            Engine.objects.filter(pk=engine.pk).update(down_since=None, failed_pings=0, last_error="")
        return
    failures = engine.failed_pings + 1
    Engine.objects.filter(pk=engine.pk).update(failed_pings=failures, last_error=problem[:500])
    metrics.ENGINE_ERRORS.labels(engine=engine.url).inc()
    if failures < settings.ENGINE_DOWN_AFTER:
        return
    if engine.down_since is None:
        log.error("the sandbox engine %s is down after %d failed pings: %s", engine.name, failures, problem)
        Engine.objects.filter(pk=engine.pk, down_since__isnull=True).update(down_since=timezone.now())
    end_sessions_on(engine)


def end_sessions_on(engine: Engine) -> None:
    """End the live sessions of an engine that is down, telling their viewers why; its objects stay there.

    Nothing can be removed from an engine that does not answer: the sweep removes the ended sessions' objects
    (orphans) once it answers again.
    """
    # Endings that stalled there too (their removal cannot finish): claim_ending takes over only those.
    for session in Session.objects.filter(engine=engine, state__in=[Session.State.ACTIVE, Session.State.ENDING]):
        if not session.claim_ending(DOWN_REASON):
            continue
        if session.mark_ended():
            log.warning("session %s ended: its engine %s is down", session.id, engine.name)
            # As any ending does (lifecycle.end_session): no other ending comes for it to remove them later.
            recordings.remove(session.id, keep=recordings.kept(session.id))
            try:
                events.publish(session.id, "session end", DOWN_MESSAGE)
            except Exception:
                log.exception("could not tell session %s that its engine is down", session.id)
