"""Start and end sessions, add and remove their instances: the database and the engine, kept in step."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

import engine
import metrics
from engine import mirror, names, sandboxes, tls
from sessions import capacity, engines, events, firewall, pools, recordings
from sessions.models import ClientBundle, Engine, Instance, Playground, Session

log = logging.getLogger(__name__)


class SandboxError(Exception):
    """A request the platform refuses; carries the HTTP status and a stable error code."""

    status = 400
    code = "bad_request"


class BadInput(SandboxError):
    pass


class ReservedEnv(SandboxError):
    code = "reserved_env"


class SessionEnded(SandboxError):
    status = 410
    code = "session_ended"


class StackTooLarge(SandboxError):
    status = 413
    code = "stack_too_large"


class TooManyInstances(SandboxError):
    status = 409
    code = "max_instances"


class HostnameTaken(SandboxError):
    status = 409
    code = "hostname_taken"


class OutOfCapacity(SandboxError):
    status = 503
    code = "out_of_capacity"


class TooManyStarts(SandboxError):
    status = 429
    code = "too_many_sessions"


class LoginRequired(SandboxError):
    status = 403
    code = "login_required"


class TooManyOpenSessions(SandboxError):
    status = 429
    code = "too_many_open_sessions"


class EngineTrouble(SandboxError):
    """The engine failed; counted as it is raised, so every failure reported to a learner or a worker shows."""

    status = 503
    code = "engine_error"

    def __init__(self, message: str, engine_url: str | None = None) -> None:
        super().__init__(message)
        metrics.ENGINE_ERRORS.labels(engine=engine_url or metrics.engine_label()).inc()


class ExtendingOff(SandboxError):
    status = 403
    code = "extend_not_allowed"


class ExtendLimit(SandboxError):
    status = 409
    code = "max_session_duration"


@dataclass
class InstanceRequest:
    image: str = ""
    hostname: str = ""
    env: dict[str, str] = field(default_factory=dict)
    alias: str = ""
    tls_ca_cert: str = ""
    tls_server_cert: str = ""
    tls_server_key: str = ""


def start_session(
    playground: Playground,
    duration: timedelta | None = None,
    image: str = "",
    client_address: str | None = None,
    warm: bool = False,
    **extra: str,
) -> Session:
    """Create a session with its private network; refuse early when the engine has no room.

    With warm, hand out a ready session of the playground's public pool instead when it has one.
    """
    _check_image(playground, image)
    lifetime = min(duration, playground.session_duration) if duration else playground.session_duration
    if _too_many_open(client_address, already_counted=False):
        raise TooManyOpenSessions(_too_many_open_message())
    fields = {"image_name": image, "client_address": client_address, **extra}
    claimed = _claim_warm(playground, image, lifetime, fields) if warm else None
    session = claimed or _create_session(playground, lifetime, fields)
    # Counted after the insert (or the claim), so two starts racing each see the other: at worst both are refused.
    if _too_many_open(client_address, already_counted=True):
        if claimed:
            end_session(session, reason="too many open sessions")
        else:
            session.delete()
        raise TooManyOpenSessions(_too_many_open_message())
    if not claimed:
        try:
            open_network(session)
        except SandboxError:
            session.delete()
            raise
    return session


def _claim_warm(playground: Playground, image: str, lifetime: timedelta, fields: dict[str, Any]) -> Session | None:
    pool = pools.public(playground)
    return Session.claim_warm(pool.key, pool.instances, lifetime, **fields) if pool.serves(image) else None


def _create_session(playground: Playground, lifetime: timedelta, fields: dict[str, Any]) -> Session:
    now = timezone.now()
    # Placed and inserted in one transaction (placing locks the engines' rows): starts at the same instant each
    # count the ones before them, instead of all reading the same loads and landing on the same engine.
    with transaction.atomic():
        engine = place_session()
        return Session.objects.create(
            playground=playground, engine=engine, created_at=now, expires_at=now + lifetime, **fields
        )


def place_session() -> Engine:
    """Return the engine a new session goes on; raise OutOfCapacity when none takes it."""
    try:
        return engines.place()
    except engines.NoRoom as e:
        raise OutOfCapacity(str(e)) from e


def _too_many_open(client_address: str | None, already_counted: bool) -> bool:
    cap = settings.SESSIONS_PER_CLIENT
    if not cap or not client_address:
        return False
    held = Session.objects.live().filter(client_address=client_address).count()
    return held > cap if already_counted else held >= cap


def _too_many_open_message() -> str:
    cap = settings.SESSIONS_PER_CLIENT
    return f"you already have {cap} sessions open; close one (or let it expire) first"


def open_network(session: Session) -> None:
    """Create the session's private network."""
    try:
        assert session.engine is not None  # saved sessions always have one
        sandboxes.create_session_network(session.daemon, session.id, engines.neighbours(session.engine))
    except engine.OutOfCapacity as e:
        raise OutOfCapacity(str(e)) from e
    except engine.EngineError as e:
        raise EngineTrouble(str(e), session.daemon.url) from e


def _check_capacity(session: Session) -> None:
    assert session.engine is not None  # saved sessions always have one
    full = engines.room_for_instance(session.engine)
    if full:
        raise OutOfCapacity(f"{full}; try again in a few minutes")
    if not session.engine.is_local:
        return  # what follows measures this host, which runs only engines on unix sockets
    # Every deployment's sandboxes on the host count against its limit (a test run, a second site).
    live = capacity.in_use(Instance.objects.live().on_this_host().count())
    limit = capacity.instance_limit()
    if live >= limit:
        raise OutOfCapacity(f"this server runs as many instances as it holds ({limit}); try again in a few minutes")
    try:
        firewall.check()
        refusal = capacity.refusal(session.daemon.data_root())
    except (engine.EngineError, firewall.FirewallError) as e:
        raise EngineTrouble(str(e), session.daemon.url) from e
    if refusal:
        log.warning("refusing a new instance: %s", refusal)
        raise OutOfCapacity(f"{refusal}; try again in a few minutes")


def add_instance(session: Session, request: InstanceRequest) -> Instance:
    """Start a new sandbox in the session and return it once its inner engine answers."""
    _check_image(session.playground, request.image)
    _check_capacity(session)
    instance = _reserve(session, request)
    playground = session.playground
    started = time.monotonic()
    try:
        spec = sandboxes.SandboxSpec(
            name=instance.name,
            hostname=instance.hostname,
            session_id=session.id,
            image=instance.image,
            memory_mb=playground.memory_limit_mb,
            cpus=playground.cpu_limit,
            pids=playground.pids_limit,
            env=request.env,
            tls=_engine_tls(instance),
            files=mirror.sandbox_files(),
        )
        instance.ip = sandboxes.run_sandbox(session.daemon, spec)
        sandboxes.wait_ready(session.daemon, instance.name, settings.SANDBOX_READY_TIMEOUT)
        _confirm_running(instance)
        metrics.INSTANCE_READY.labels(engine=session.daemon.url).observe(time.monotonic() - started)
    except Exception as e:
        _discard(instance)
        if isinstance(e, SandboxError):
            raise
        if isinstance(e, engine.EngineError):
            raise EngineTrouble(str(e), session.daemon.url) from e
        raise
    _tell(session.id, "instance new", instance.name, instance.ip, instance.hostname, instance.proxy_host)
    return instance


def _engine_tls(instance: Instance) -> tls.EngineTls:
    """Return the TLS the instance's engine serves with, and keep a client certificate for it (ClientBundle).

    The client certificate is the learner's bundle and the platform's way in (it follows the instance's published
    ports with it); it opens this one engine. An instance's own issued CA signs both; a docker-machine instance
    keeps its posted CA for the server, and its engine also trusts a CA made for this one client certificate,
    whose key is discarded at once.
    """
    issued = tls.issue(instance.hostname, valid_until=instance.session.expires_at + timedelta(days=1))
    if instance.tls_server_cert:
        server_ca = instance.tls_ca_cert.rstrip() + "\n"  # run together with the next block, PEM reads as none
        served = tls.EngineTls(server_ca + issued.engine.ca_cert, instance.tls_server_cert, instance.tls_server_key)
    else:
        server_ca, served = issued.engine.ca_cert, issued.engine
    ClientBundle.objects.create(
        instance=instance, ca_cert=server_ca, client_cert=issued.client_cert, client_key=issued.client_key
    )
    return served


def _check_image(playground: Playground, image: str) -> None:
    """Refuse an image the playground does not offer; the client never chooses what runs (PWD let it)."""
    if image and image not in playground.images:
        raise BadInput(f"image {image!r} is not offered here; choose one of {', '.join(playground.images)}")


def _tell(session_id: str, name: str, *args: object) -> None:
    """Notify viewers; a missing notification must never undo or fail the change itself."""
    try:
        events.publish(session_id, name, *args)
    except Exception:
        log.exception("could not publish %r to session %s", name, session_id)


def _reserve(session: Session, request: InstanceRequest) -> Instance:
    """Insert the instance row, choosing its hostname, within the session's instance limit."""
    for _attempt in range(5):
        try:
            with transaction.atomic():
                locked = Session.objects.select_for_update().get(pk=session.pk)
                if not locked.is_live:
                    raise SessionEnded("this session has ended")
                taken = set(locked.live_instances().values_list("hostname", flat=True))
                limit = locked.playground.max_instances
                if len(taken) >= limit:
                    raise TooManyInstances(f"a session may have at most {limit} instances")
                hostname = request.hostname or _first_free_hostname(taken)
                if hostname in taken:
                    raise HostnameTaken(f"hostname {hostname} is already used in this session")
                return Instance.objects.create(
                    session=locked,
                    name=names.container(session.id, hostname),
                    hostname=hostname,
                    image=request.image or locked.default_image,
                    alias=request.alias,
                    tls_ca_cert=request.tls_ca_cert,
                    tls_server_cert=request.tls_server_cert,
                    tls_server_key=request.tls_server_key,
                )
        except IntegrityError:
            continue  # a concurrent add took the same hostname; look again
    raise HostnameTaken("too many concurrent additions to this session; try again")


def _first_free_hostname(taken: set[str]) -> str:
    n = 1
    while f"node{n}" in taken:
        n += 1
    return f"node{n}"


def _confirm_running(instance: Instance) -> None:
    """Mark the instance running, unless its session ended while it was starting."""
    # Ending a session removes the objects that existed then; a sandbox started meanwhile must not survive it.
    updated = Instance.objects.filter(
        pk=instance.pk, state=Instance.State.PROVISIONING, session__state=Session.State.ACTIVE
    ).update(state=Instance.State.RUNNING, ip=instance.ip)
    if not updated:
        raise SessionEnded("the session ended while the instance was starting")
    instance.state = Instance.State.RUNNING


def _discard(instance: Instance) -> None:
    try:
        sandboxes.remove_sandbox(instance.session.daemon, instance.name)
    except engine.EngineError:
        log.exception("could not remove half-created sandbox %s; the sweep will", instance.name)
    instance.delete()


def delete_instance(instance: Instance) -> None:
    """Remove the instance's container and storage, then mark it gone."""
    try:
        sandboxes.remove_sandbox(instance.session.daemon, instance.name)
    except engine.EngineError as e:
        raise EngineTrouble(str(e), instance.session.daemon.url) from e
    Instance.objects.filter(pk=instance.pk).update(state=Instance.State.GONE)
    instance.state = Instance.State.GONE
    _tell(instance.session_id, "instance delete", instance.name)


def forget_vanished(instance: Instance) -> None:
    """Mark an instance whose container disappeared behind our back gone, and tell the session's viewers."""
    # Only in a live session: an ending session's containers disappear before its rows are marked gone.
    vanished = Instance.objects.filter(
        pk=instance.pk, state=Instance.State.RUNNING, session__state=Session.State.ACTIVE
    ).update(state=Instance.State.GONE)
    if vanished:
        instance.state = Instance.State.GONE
        log.warning("instance %s of session %s vanished from the engine", instance.name, instance.session_id)
        _tell(instance.session_id, "instance delete", instance.name)


def revive(instance: Instance) -> None:
    """Start again an instance whose container stopped (its engine or host restarted); forget it if that fails."""
    try:
        ip = sandboxes.start_sandbox(instance.session.daemon, instance.name, names.network(instance.session_id))
    except engine.EngineError as e:
        log.warning("instance %s stopped and could not be started again: %s", instance.name, e)
        forget_vanished(instance)
        return
    # Its address may have changed (another container took the old one): routes and logins must follow.
    Instance.objects.filter(pk=instance.pk).update(ip=ip)
    log.warning("instance %s of session %s had stopped; started it again", instance.name, instance.session_id)


def end_session(session: Session, reason: str, *, keep_recordings: bool = False) -> None:
    """End the session and remove everything it owns; safe to call again after a failure halfway.

    Its terminal recordings go too, unless keep_recordings or a keeper wants them (sessions/recordings.py).
    """
    if not session.claim_ending(reason):
        return  # ended already, or another worker is ending it now (a stalled ending is taken over)
    if reason == "expired":
        metrics.EXPIRY_LATENESS.observe(max((timezone.now() - session.expires_at).total_seconds(), 0))
    _remove_ending(session, keep_recordings)


def retire_warm(session: Session, reason: str) -> None:
    """End a session waiting in a warm pool and remove everything it owns; leave it alone once a learner has it."""
    if not session.claim_ending(reason, warm_only=True):
        return
    _remove_ending(session, keep_recordings=False)


def _remove_ending(session: Session, keep_recordings: bool) -> None:
    try:
        sandboxes.remove_session_objects(session.daemon, session.id)
    except engine.EngineError as e:
        # The session stays ENDING; once its claim lapses, a later call (or the sweep) finishes the removal.
        raise EngineTrouble(str(e), session.daemon.url) from e
    # Once the sandboxes are gone, no terminal attaches to them and starts a recording again.
    recordings.remove(session.id, keep=keep_recordings or recordings.kept(session.id))
    if session.mark_ended():
        _tell(session.id, "session end")


def extend_session(session: Session) -> None:
    """Give the session another full session length, up to its playground's maximum."""
    limit = session.extension_limit
    if limit is None:
        raise ExtendingOff("this playground does not allow extending sessions")
    if session.expires_at <= timezone.now():
        raise SessionEnded("this session has expired")
    if not session.extend():
        raise ExtendLimit(f"this session already lasts as long as allowed: until {limit:%Y-%m-%d %H:%M:%S} UTC")
