"""Set up a session from a trainer's template (PWD's /setup): its instances at once, their swarm, their commands."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from django.conf import settings
from django.db import connection

from sessions import capacity, commands, lifecycle
from sessions.models import Instance, Session

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


def setup_session(session: Session, nodes: list[SetupNode]) -> list[dict[str, Any]]:
    """Start the nodes in parallel, form their swarm, run each one's commands in order; return what each did."""
    _check_room(session, nodes)
    nodes = _named(nodes)
    instances = _start_all(session, nodes)
    reports = [{**i.to_json(), "swarm": [], "commands": []} for i in instances]
    deadline = time.monotonic() + settings.SETUP_TIMEOUT
    try:
        _form_swarm(nodes, instances, reports, deadline)
        _run_commands(nodes, instances, reports, deadline)
    except (commands.SwarmFailed, lifecycle.EngineTrouble) as e:
        raise SetupFailed(f"{e}; {_KEPT}", reports) from e
    return reports


_KEPT = "the instances stay as they are: delete them (or close the session) to set up again"


def _check_room(session: Session, nodes: list[SetupNode]) -> None:
    """Refuse before anything is made when the session or the host cannot take every node."""
    # Two setups racing past this check collide on their hostnames or the session's limit in add_instance;
    # the loser removes what it made.
    if session.live_instances().exists():
        raise NotEmpty("this session already has instances; a template sets up an empty session only")
    offered = session.playground.images
    for node in nodes:
        if node.image and node.image not in offered:
            raise lifecycle.BadInput(f"image {node.image!r} is not offered here; choose one of {', '.join(offered)}")
    limit = session.playground.max_instances
    if len(nodes) > limit:
        raise lifecycle.TooManyInstances(f"a session may have at most {limit} instances; this asks for {len(nodes)}")
    room = capacity.instance_limit() - capacity.in_use(Instance.objects.live().count())
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


def _in_parallel(calls: list[Callable[[], T]]) -> list[T | BaseException]:
    """Run the calls on at most SETUP_PARALLEL threads; return each one's result or exception, in order."""

    def call(fn: Callable[[], T]) -> T | BaseException:
        try:
            return fn()
        except Exception as e:
            return e
        finally:
            connection.close()  # each thread's own database connection

    with ThreadPoolExecutor(max_workers=max(1, min(len(calls), settings.SETUP_PARALLEL))) as pool:
        return list(pool.map(call, calls))


def _start_all(session: Session, nodes: list[SetupNode]) -> list[Instance]:
    """Add every node; if one cannot start, remove the others and raise its refusal, naming it."""
    requests = [lifecycle.InstanceRequest(image=node.image, hostname=node.hostname) for node in nodes]
    results = _in_parallel([partial(lifecycle.add_instance, session, r) for r in requests])
    started = [r for r in results if isinstance(r, Instance)]
    failed = [(node, r) for node, r in zip(nodes, results, strict=True) if isinstance(r, BaseException)]
    if not failed:
        return started
    for instance in started:
        try:
            lifecycle.delete_instance(instance)
        except lifecycle.SandboxError:
            log.exception("setup could not remove %s; the sweep will", instance.name)
    node, error = failed[0]
    if not isinstance(error, lifecycle.SandboxError):
        raise error
    refusal = type(error)(f"{node.hostname} could not start: {error}; setup removed the instances it had made")
    raise refusal from error


def _remaining(deadline: float) -> float:
    """Return the seconds left of the setup's SETUP_TIMEOUT; a step started with none left fails at once."""
    return max(deadline - time.monotonic(), 0.0)


def _form_swarm(
    nodes: list[SetupNode], instances: list[Instance], reports: list[dict[str, Any]], deadline: float
) -> None:
    """Init the swarm on the first manager, then join the other managers and the workers to it at once."""
    roles = [(node.swarm, i) for i, node in enumerate(nodes) if node.swarm]
    if not roles:
        return
    first = next(i for role, i in roles if role == "manager")
    leader = instances[first]
    _check(commands.swarm_init(leader, _remaining(deadline)), leader, reports[first]["swarm"])
    tokens = {
        role: commands.swarm_join_token(leader, role, _remaining(deadline))
        for role in {role for role, i in roles if i != first}
    }
    joining = [(role, i) for role, i in roles if i != first]
    timeout = _remaining(deadline)
    results = _in_parallel(
        [partial(commands.swarm_join, instances[i], tokens[role], leader, timeout) for role, i in joining]
    )
    for (_role, i), result in zip(joining, results, strict=True):
        if isinstance(result, BaseException):
            raise result
        _check(result, instances[i], reports[i]["swarm"])


def _run_commands(
    nodes: list[SetupNode], instances: list[Instance], reports: list[dict[str, Any]], deadline: float
) -> None:
    """Run every node's commands, node after node, each in order; stop at the first that fails."""
    # One after the other, as a trainer reads the template: a later command may rely on an earlier one's work
    # on another node (a network, a service).
    for node, instance, report in zip(nodes, instances, reports, strict=True):
        for n, command in enumerate(node.run, start=1):
            result = commands.run(instance, command, _remaining(deadline))
            report["commands"].append(result.to_json())
            if not result.ok:
                raise SetupFailed(
                    f"{instance.hostname}: command {n} of {len(node.run)}, {result.describe()}; {_KEPT}", reports
                )


def _check(result: commands.Result, instance: Instance, reported: list[dict[str, Any]]) -> None:
    reported.append(result.to_json())
    if not result.ok:
        raise commands.SwarmFailed(f"{instance.hostname}: {result.describe()}")
