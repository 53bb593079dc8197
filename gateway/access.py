"""Decide who may enter which instance: the ssh user name names it, the session id (or a registered key) opens it."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from channels.db import database_sync_to_async

from engine.daemon import Daemon
from gateway.models import AuthorizedKey
from gateway.usernames import UserName
from sessions import engines
from sessions.models import Engine, Instance, Session

P = ParamSpec("P")
R = TypeVar("R")

# The gateway's ORM calls run here, never on its event loop; each call closes the thread's stale connection.
_DB_THREADS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="gateway-db")


def off_loop(fn: Callable[P, R]) -> Callable[P, Coroutine[Any, Any, R]]:
    """Wrap a blocking ORM function so the event loop awaits it in the gateway's database threads."""
    return database_sync_to_async(fn, thread_sensitive=False, executor=_DB_THREADS)


class Refused(Exception):
    """The gateway refuses this login; the message tells the learner why and what to do."""


@dataclass(frozen=True)
class Target:
    """The instance an ssh connection leads to."""

    session_id: str
    container: str
    hostname: str
    ip: str
    daemon: Daemon  # the engine its session runs on


def _target(session: Session, instance: Instance) -> Target:
    return Target(session.id, instance.name, instance.hostname, instance.ip or "", session.daemon)


def resolve(user: UserName) -> Target:
    """Return the live instance that the full user name ip<a-b-c-d>-<session id> names, or raise Refused."""
    session = Session.objects.select_related("engine").filter(pk=user.session).first()
    if session is None:
        raise Refused(f"there is no session {user.session}: copy the ssh command from the session page")
    if not session.is_live:
        raise Refused(f"session {user.session} has ended: start a new one")
    instance = session.instances.filter(ip=user.ip, state=Instance.State.RUNNING).first()
    if instance is None:
        raise Refused(
            f"session {user.session} has no instance at {user.ip}: copy the ssh command from the session page"
        )
    return _target(session, instance)


def still_reachable(target: Target) -> bool:
    """Tell whether the instance a connection entered is still running in a live session."""
    return Instance.objects.reachable().filter(name=target.container, ip=target.ip).exists()


def tunnels_reach(target: Target) -> bool:
    """Tell whether a tunnel from this host to the instance's address reaches that instance (sessions/engines.py)."""
    engine = Engine.objects.filter(url=target.daemon.url).first()
    return engine is None or engines.reachable_here(engine)


def legacy_candidates(user: UserName) -> dict[str, Target]:
    """Map the fingerprints of keys registered on live sessions matching a legacy name to the instance they open.

    One query whatever matches, and an empty map when nothing does: a short name is only 8 characters of the
    session id, so neither the answer nor its timing may tell a session that exists from one that does not.
    """
    rows = AuthorizedKey.objects.filter(
        session__id__startswith=user.session,
        session__state=Session.State.ACTIVE,
        session__instances__ip=user.ip,
        session__instances__state=Instance.State.RUNNING,
    ).values_list(
        "fingerprint",
        "session_id",
        "session__instances__name",
        "session__instances__hostname",
        "session__engine__url",
        "session__engine__tls",
    )
    return {
        fingerprint: Target(session_id, name, hostname, user.ip, Daemon(url, tls))
        for fingerprint, session_id, name, hostname, url, tls in rows
    }
