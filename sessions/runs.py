"""Commands a client has the platform run in its instances: PWD's exec, and the steps that form a swarm.

The learner is root in the instance and owns its `docker` binary: every command has a deadline and an output
cap (engine.execs), and what it prints is only ever reported back, capped, or matched against a strict pattern.
"""

from __future__ import annotations

import re
import shlex
from contextlib import AbstractContextManager
from dataclasses import dataclass

from django.conf import settings

import engine
from engine import execs
from sessions.lifecycle import EngineTrouble, SandboxError
from sessions.models import Instance
from sessions.slots import Slots

# What is reported back of a command's output: its last REPORTED_OUTPUT bytes (errors come last).
REPORTED_OUTPUT = 16 * 1024
# `docker swarm join-token -q`: SWMTKN-1-<digest of the swarm's CA, base 36>-<secret, base 36>.
SWARM_TOKEN = re.compile(r"SWMTKN-1-[0-9a-z]{40,64}-[0-9a-z]{20,32}")
SWARM_PORT = 2377


class CommandCutShort(SandboxError):
    status = 422
    code = "command_cut_short"


class NotRunning(SandboxError):
    status = 409
    code = "instance_not_ready"


class TooManyCommands(SandboxError):
    status = 429
    code = "too_many_commands"


class SwarmFailed(SandboxError):
    status = 422
    code = "swarm_failed"


@dataclass
class Result:
    """A command run in an instance: its exit code (None when it was stopped) and the end of its output."""

    command: list[str]
    status_code: int | None
    output: str
    cut_short: str = ""

    @property
    def ok(self) -> bool:
        return self.status_code == 0

    def to_json(self) -> dict[str, object]:
        return {"command": self.command, "status_code": self.status_code, "output": self.output}

    def describe(self) -> str:
        """Say in a few words how it ended, for a message."""
        shown = shlex.join(self.command)
        shown = shown if len(shown) <= 120 else shown[:117] + "..."
        if self.cut_short:
            return f"`{shown}` {self.cut_short}"
        return f"`{shown}` exited with {self.status_code}"


def run(instance: Instance, command: list[str], timeout: float) -> Result:
    """Run a command in the instance to its end or its deadline; raise EngineTrouble if the engine fails."""
    if timeout <= 0:
        return Result(command, None, "", cut_short="was not run: no time was left")
    daemon = instance.session.daemon
    try:
        code, output = execs.exec_run(daemon, instance.name, command, timeout=timeout)
    except engine.ExecCutShort as e:
        why = f"printed more than {execs.EXEC_OUTPUT_LIMIT} bytes" if e.printed_too_much else "did not finish in time"
        return Result(command, None, "", cut_short=f"was stopped: it {why}")
    except engine.EngineError as e:
        raise EngineTrouble(f"could not run a command in {instance.hostname}: {e}", daemon.url) from e
    text = output[-REPORTED_OUTPUT:].decode(errors="replace")
    return Result(command, code, text)


# Execs running for clients in this process: each holds a thread until its command ends.
_running = Slots("commands", TooManyCommands)


def command_slot(session_id: str) -> AbstractContextManager[None]:
    """Hold one of the slots execs and the editor's commands share (EXEC_PER_SESSION, EXECS_AT_ONCE), or raise
    TooManyCommands: each holds a thread of the web process until its command ends."""
    return _running.hold(session_id, settings.EXEC_PER_SESSION, settings.EXECS_AT_ONCE)


def exec_status(instance: Instance, command: list[str], timeout: float) -> int:
    """Run a command for a client (PWD's exec) and return its exit code; raise CommandCutShort if it was stopped."""
    if instance.state != Instance.State.RUNNING:
        raise NotRunning(f"{instance.hostname} is still starting; try again once it runs")
    with command_slot(instance.session_id):
        result = run(instance, command, timeout)
    if result.status_code is None:
        raise CommandCutShort(
            f"in {instance.hostname}, {result.describe()} (a command may take {timeout:g} s and print "
            f"{execs.EXEC_OUTPUT_LIMIT // 1024} KiB)"
        )
    return result.status_code


def swarm_init(manager: Instance, timeout: float) -> Result:
    """Make the instance the first manager of a new swarm, advertised on its session address; print its worker
    then its manager join token last, for join_tokens."""
    # One exec, not three: each costs a round trip through two engines (0.2-0.3 s on a busy host).
    script = (
        f"docker swarm init --advertise-addr {shlex.quote(str(manager.ip))}"
        " && docker swarm join-token -q worker && docker swarm join-token -q manager"
    )
    return run(manager, ["sh", "-c", script], timeout)


def join_tokens(manager: Instance, init: Result) -> dict[str, str]:
    """Return the "worker" and "manager" join tokens a successful swarm_init printed; refuse anything else."""
    # The instance's `docker` is the learner's: only a well-formed token ever reaches a command line.
    lines = init.output.splitlines()[-2:]
    tokens = dict(zip(("worker", "manager"), (line.strip() for line in lines), strict=False))
    if len(tokens) != 2 or not all(SWARM_TOKEN.fullmatch(token) for token in tokens.values()):
        raise SwarmFailed(f"{manager.hostname} gave no valid join tokens: {init.describe()}")
    return tokens


def swarm_join(node: Instance, token: str, manager: Instance, timeout: float) -> Result:
    """Join the node to the manager's swarm with a token from join_tokens."""
    if not SWARM_TOKEN.fullmatch(token):
        raise SwarmFailed(f"{token[:20]!r}... is not a swarm join token")
    return run(node, ["docker", "swarm", "join", "--token", token, f"{manager.ip}:{SWARM_PORT}"], timeout)
