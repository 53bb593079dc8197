"""Decide who may enter which instance: the ssh user name names it, the session id (or a registered key) opens it."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from channels.db import database_sync_to_async

from gateway.models import AuthorizedKey
from gateway.usernames import UserName
from sessions.models import Instance, Session

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


def _target(instance: Instance) -> Target:
    return Target(instance.session_id, instance.name, instance.hostname, instance.ip or "")


def resolve(user: UserName) -> Target:
    """Return the live instance that the full user name ip<a-b-c-d>-<session id> names, or raise Refused."""
    session = Session.objects.filter(pk=user.session).first()
    if session is None:
        raise Refused(f"there is no session {user.session}: copy the ssh command from the session page")
    if not session.is_live:
        raise Refused(f"session {user.session} has ended: start a new one")
    instance = session.instances.filter(ip=user.ip, state=Instance.State.RUNNING).first()
    if instance is None:
        raise Refused(
            f"session {user.session} has no instance at {user.ip}: copy the ssh command from the session page"
        )
    return _target(instance)


def still_reachable(target: Target) -> bool:
    """Tell whether the instance a connection entered is still running in a live session."""
    return Instance.objects.reachable().filter(name=target.container, ip=target.ip).exists()


def legacy_candidates(user: UserName) -> dict[str, Target]:
    """Map the fingerprints of keys registered on live sessions matching a legacy name to the instance they open."""
    instances = Instance.objects.reachable().filter(ip=user.ip, session__id__startswith=user.session)
    targets = {instance.session_id: _target(instance) for instance in instances}
    if not targets:
        raise Refused(f"no live session starting with {user.session} has an instance at {user.ip}")
    keys = AuthorizedKey.objects.filter(session_id__in=targets).values_list("fingerprint", "session_id")
    if not keys:
        raise Refused(
            f"the short user name {user.ip.replace('.', '-')}-{user.session} needs a public key registered on the "
            f"session page; or log in as ip{user.ip.replace('.', '-')}-<full session id>"
        )
    return {fingerprint: targets[session_id] for fingerprint, session_id in keys}
