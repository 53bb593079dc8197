"""Set up a session from a trainer's template (PWD's /setup): its instances at once, their swarm, their commands."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from django.conf import settings
from django.core.cache import cache
from django.db import connection

from sessions import capacity, engines, lifecycle, runs
from sessions.models import Instance, Session
from sessions.slots import Slots

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class SetupNode:
    """One instance of a template: its hostname and image, its swarm role ("manager", "worker" or ""), its commands."""

    hostname: str = ""
    image: str = ""
    swarm: str = ""
    run: list[list[str]] = field(default_factory=list)


class NotEmpty(lifecycle.SandboxError):
    status = 409
    code = "session_not_empty"


class SetupFailed(lifecycle.SandboxError):
    """A swarm step or a command failed; the instances stay, and `instances` reports what ran so far."""

    status = 422
    code = "setup_failed"

    def __init__(self, message: str, instances: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.instances = instances


class SetupRunning(lifecycle.SandboxError):
    status = 409
    code = "setup_running"


class TooManySetups(lifecycle.SandboxError):
    status = 429
    code = "too_many_setups"


# Setups running in this process: each holds SETUP_PARALLEL + 1 threads until it ends.
_running = Slots("setups", TooManySetups)


def setup_session(session: Session, nodes: list[SetupNode]) -> list[dict[str, Any]]:
    """Start the nodes in parallel, forming their swarm meanwhile, then run each one's commands in order."""
    with _running.hold(session.id, settings.SETUPS_AT_ONCE, settings.SETUPS_AT_ONCE), _claimed(session):
        return _setup(session, nodes)


@contextmanager
def _claimed(session: Session) -> Iterator[None]:
    """Hold the session's setup claim, shared by every web process through the cache, or raise SetupRunning."""
    key = f"setup:{session.id}"
    # Past the longest a setup lasts, a claim whose process died lets the next one in.
    lease = settings.SANDBOX_READY_TIMEOUT + 2 * settings.SETUP_TIMEOUT + 60
    if not cache.add(key, True, timeout=lease):
        raise SetupRunning("this session is being set up already; wait until that ends")
    try:
        yield
    finally:
        cache.delete(key)


def _setup(session: Session, nodes: list[SetupNode]) -> list[dict[str, Any]]:
    _check_room(session, nodes)
    nodes = _named(nodes)
    started = _start_all(session, nodes)
    instances = [node.instance for node in started]
    reports = [{**n.instance.to_json(), "swarm": [r.to_json() for r in n.swarm], "commands": []} for n in started]
    failure = next((n.swarm_failure for n in started if n.swarm_failure), "")
    if failure:
        raise SetupFailed(f"{failure}; {_KEPT}", reports)
    deadline = time.monotonic() + settings.SETUP_TIMEOUT
    try:
        _run_commands(nodes, instances, reports, deadline)
    except lifecycle.EngineTrouble as e:
        raise SetupFailed(f"{e}; {_KEPT}", reports) from e
    return reports


_KEPT = "the instances stay as they are: delete them (or close the session) to set up again"


def _check_room(session: Session, nodes: list[SetupNode]) -> None:
    """Refuse before anything is made when the session or the host cannot take every node."""
    if session.live_instances().exists():
        raise NotEmpty("this session already has instances; a template sets up an empty session only")
    offered = session.playground.images
    for node in nodes:
        if node.image and node.image not in offered:
            raise lifecycle.BadInput(f"image {node.image!r} is not offered here; choose one of {', '.join(offered)}")
    limit = session.playground.max_instances
    if len(nodes) > limit:
        raise lifecycle.TooManyInstances(f"a session may have at most {limit} instances; this asks for {len(nodes)}")
    full = engines.room_for_instance(session.engine, len(nodes)) if session.engine is not None else None
    if full:
        raise lifecycle.OutOfCapacity(f"{full}; try again in a few minutes")
    if session.engine is not None and not session.engine.is_local:
        return  # this host's own limit is for the engines here
    room = capacity.instance_limit() - capacity.in_use(Instance.objects.live().on_this_host().count())
    if len(nodes) > room:
        raise lifecycle.OutOfCapacity(
            f"this server has room for {max(room, 0)} more instances, not {len(nodes)}; try again in a few minutes"
        )


def _named(nodes: list[SetupNode]) -> list[SetupNode]:
    """Give nodes without a hostname node1, node2, … in order, skipping the names others ask for."""
    taken = {node.hostname for node in nodes if node.hostname}
    named, n = [], 0
    for node in nodes:
        if not node.hostname:
            n += 1
            while f"node{n}" in taken:
                n += 1
            node = SetupNode(f"node{n}", node.image, node.swarm, node.run)
        named.append(node)
    return named


def _in_parallel(calls: list[Callable[[], T]]) -> list[T | Exception]:
    """Run the calls on at most SETUP_PARALLEL threads, in order; return each one's result or exception."""

    def call(fn: Callable[[], T]) -> T | Exception:
        try:
            return fn()
        except Exception as e:
            return e
        finally:
            connection.close()  # each thread's own database connection

    with ThreadPoolExecutor(max_workers=max(1, min(len(calls), settings.SETUP_PARALLEL))) as pool:
        return list(pool.map(call, calls))


class _Swarm:
    """A swarm formed while its nodes start: its leader inits it once running, the others join once running."""

    def __init__(self) -> None:
        self.formed = threading.Event()
        self.leader: Instance | None = None
        self.tokens: dict[str, str] = {}
        self.failure = ""
        self.deadline = 0.0  # SETUP_TIMEOUT from when the leader begins its steps: nobody joins before

    def left(self) -> float:
        """Return the seconds left for the swarm's steps; a step started with none left fails at once."""
        return max(self.deadline - time.monotonic(), 0.0)

    def lead(self, leader: Instance) -> list[runs.Result]:
        """Init the swarm on the leader, reading both join tokens; then let the other nodes join."""
        self.deadline = time.monotonic() + settings.SETUP_TIMEOUT
        steps: list[runs.Result] = []
        try:
            steps.append(runs.swarm_init(leader, self.left()))
            if not steps[0].ok:
                self.failure = f"{leader.hostname}: {steps[0].describe()}"
                return steps
            self.tokens = runs.join_tokens(leader, steps[0])
            self.leader = leader
        except lifecycle.SandboxError as e:  # a lying token, a failing engine
            self.failure = str(e)
        finally:
            self.formed.set()
        return steps

    def abandon(self, reason: str) -> None:
        """Tell the nodes waiting to join that the leader will never lead."""
        self.failure = reason
        self.formed.set()

    def join(self, node: Instance, role: str) -> tuple[list[runs.Result], str]:
        """Join the node once the leader has its tokens; return the step and why it failed, if it did."""
        # The leader sets `formed` once started and through its steps, each with a deadline; this is a backstop.
        if not self.formed.wait(settings.SANDBOX_READY_TIMEOUT + 2 * settings.SETUP_TIMEOUT):
            return [], f"{node.hostname}: the swarm's leader took too long to start"
        if self.leader is None:
            return [], ""  # the leader's own failure is the one reported
        joined = runs.swarm_join(node, self.tokens[role], self.leader, self.left())
        return [joined], "" if joined.ok else f"{node.hostname}: {joined.describe()}"


@dataclass
class _Started:
    instance: Instance
    swarm: list[runs.Result]
    swarm_failure: str = ""


def _bring_up(session: Session, node: SetupNode, swarm: _Swarm, leads: bool) -> _Started:
    """Start the node, then init the swarm (the leader) or join it (another node of it)."""
    try:
        instance = lifecycle.add_instance(session, lifecycle.InstanceRequest(image=node.image, hostname=node.hostname))
    except Exception:
        if leads:
            swarm.abandon(f"{node.hostname} did not start")
        raise
    if leads:
        return _Started(instance, swarm.lead(instance), swarm.failure)
    if node.swarm:
        try:
            return _Started(instance, *swarm.join(instance, node.swarm))
        except lifecycle.SandboxError as e:
            return _Started(instance, [], str(e))
    return _Started(instance, [])


def _start_all(session: Session, nodes: list[SetupNode]) -> list[_Started]:
    """Bring every node up; if one cannot start, remove the others and raise its refusal, naming it."""
    swarm = _Swarm()
    leader = next((n for n, node in enumerate(nodes) if node.swarm == "manager"), None)
    # The leader first: the nodes that wait for its tokens hold their threads, the leader must never wait for one.
    order = sorted(range(len(nodes)), key=lambda n: n != leader)
    results = _in_parallel([partial(_bring_up, session, nodes[n], swarm, n == leader) for n in order])
    by_node = dict(zip(order, results, strict=True))
    outcomes = [by_node[n] for n in range(len(nodes))]
    failed = [(node, r) for node, r in zip(nodes, outcomes, strict=True) if isinstance(r, Exception)]
    started = [r for r in outcomes if isinstance(r, _Started)]
    if not failed:
        return started
    for up in started:
        try:
            lifecycle.delete_instance(up.instance)
        except lifecycle.SandboxError:
            log.exception("setup could not remove %s; the sweep will", up.instance.name)
    node, error = failed[0]
    if not isinstance(error, lifecycle.SandboxError):
        raise error
    refusal = type(error)(f"{node.hostname} could not start: {error}; setup removed the instances it had made")
    raise refusal from error


def _run_commands(
    nodes: list[SetupNode], instances: list[Instance], reports: list[dict[str, Any]], deadline: float
) -> None:
    """Run every node's commands, node after node, each in order; stop at the first that fails."""
    # One after the other, as a trainer reads the template: a later command may rely on an earlier one's work
    # on another node (a network, a service).
    for node, instance, report in zip(nodes, instances, reports, strict=True):
        for n, command in enumerate(node.run, start=1):
            result = runs.run(instance, command, max(deadline - time.monotonic(), 0.0))
            report["commands"].append(result.to_json())
            if not result.ok:
                raise SetupFailed(
                    f"{instance.hostname}: command {n} of {len(node.run)}, {result.describe()}; {_KEPT}", reports
                )
