"""Deploy a stack (a compose file) into a session, as PWD's "Try in PWD" links did, its output streamed to viewers.

PWD made node1 a swarm manager and ran `docker stack deploy`. Here the file goes to `docker compose up -d` in the
session's first instance: swarm publishes a stack's `ports:` through its ingress routing mesh, which needs the
host kernel's IPVS, and these hosts have none, so a stack's published ports would answer nowhere (DESIGN.md).

The instance belongs to the learner, who is root there and may have replaced `docker`: the deploy is cut at
STACK_DEPLOY_TIMEOUT even when it prints nothing and at STACK_OUTPUT_LIMIT bytes, and what it prints is only ever
shown as text.
"""

from __future__ import annotations

import asyncio
import codecs
import logging
import re
import time
from datetime import timedelta

from channels.db import database_sync_to_async
from django.conf import settings
from django.utils import timezone

import engine
from engine import execs, streams
from engine.daemon import Daemon
from sessions import events, fetch, lifecycle
from sessions.models import Instance, Session, StackState

log = logging.getLogger(__name__)

# Text of one "session builder out" event at most; output is gathered for FLUSH_SECONDS before it is sent.
EVENT_CHARS = 4096
FLUSH_SECONDS = 0.25
# The tail of the output kept on the session, for a page that opens (or reloads) during or after the deploy.
KEPT_CHARS = 16 * 1024
SAVE_SECONDS = 1.0
_PROJECT_INVALID = re.compile(r"[^a-z0-9_-]+")
# Terminal escapes and control characters, but newlines and tabs: the output is shown as plain text.
_ESCAPES = re.compile(
    r"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-_]|[\x00-\x08\x0b-\x1f\x7f]"
)


class StackBusy(lifecycle.SandboxError):
    status = 409
    code = "stack_busy"


class TooManyDeploys(lifecycle.SandboxError):
    status = 503
    code = "stack_capacity"


class QueueUnavailable(lifecycle.SandboxError):
    status = 503
    code = "queue_unavailable"


class StackFailed(Exception):
    """The deploy did not succeed; the message says why, for the learner."""


def project_name(name: str) -> str:
    """Return stack_name as a compose project name (lowercase letters, digits, - and _), "stack" when empty."""
    return _PROJECT_INVALID.sub("-", name.lower()).strip("-_")[:63].strip("-_") or "stack"


def check(url: str = "") -> None:
    """Refuse at once, before anything is created for it, a stack URL the server would not fetch, or any deploy
    past STACK_DEPLOYS_AT_ONCE."""
    if url and not fetch.allowed(url):
        hosts = ", ".join(settings.FETCH_ALLOWED_HOSTS) or "none"
        raise fetch.FetchRefused(f"stack {url[:200]} is not on a host this server fetches from ({hosts})")
    # Each deploy holds a worker thread until it ends; the sweeps that end sessions need the others. Counted
    # before the claim, so racing requests may all pass (k of them, k - 1 over): a soft cap, which the worker's
    # WORKER_CONCURRENCY bounds for good (a deploy past it waits in the queue).
    if Session.objects.deploying(timezone.now()).count() >= settings.STACK_DEPLOYS_AT_ONCE:
        raise TooManyDeploys("this server is deploying as many stacks as it can; try again in a minute")


def queue(session: Session, name: str, url: str = "") -> None:
    """Claim the session for a deploy (the caller enqueues tasks.deploy_stack); raise StackBusy if one runs."""
    check(url)
    if not session.claim_stack(project_name(name), url):
        raise StackBusy("a stack is being deployed in this session already; wait until it ends")


def deploy(session_id: str, compose: str | None = None) -> None:
    """Deploy the queued stack: the compose text given, else the session's stack URL, fetched now."""
    session = Session.objects.select_related("playground").filter(pk=session_id).first()
    if session is None or not session.begin_stack():
        return  # ended, or delivered twice: the deploy was begun already
    out = Output(session)
    try:
        text = compose if compose is not None else _fetch(session.stack)
        instance = _instance(session, out)
        out.say(f"$ docker compose -p {session.stack_name} up -d   (on {instance.hostname})\n")
        asyncio.run(_compose_up(session.daemon, instance.name, session.stack_name, text, out))
    except (lifecycle.SandboxError, engine.EngineError, StackFailed) as e:
        out.fail(str(e))
        return
    except BaseException:
        out.fail("the deploy failed unexpectedly")
        raise
    out.ready()


def fail_stalled() -> None:
    """Fail the deploys still queued or running STACK_DEPLOY_LEASE after they began: their worker died."""
    lease_start = timezone.now() - timedelta(seconds=settings.STACK_DEPLOY_LEASE)
    unfinished = [StackState.QUEUED, StackState.DEPLOYING]
    for session in Session.objects.live().filter(stack_state__in=unfinished, stack_started_at__lte=lease_start):
        out = Output(session)
        out.kept = session.stack_output
        out.fail("the deploy was interrupted (its worker stopped); deploy the stack again")


def _fetch(url: str) -> str:
    limit = settings.STACK_MAX_BYTES
    try:
        with fetch.fetch(url, limit=limit) as chunks:
            data = b"".join(chunks)
    except fetch.FetchTooLarge:
        raise StackFailed(f"the stack file at {url[:200]} is larger than {limit} bytes") from None
    try:
        return data.decode()
    except UnicodeDecodeError:
        raise StackFailed(f"the stack file at {url[:200]} is not UTF-8 text") from None


def _instance(session: Session, out: Output) -> Instance:
    """Return the session's first running instance, starting node1 when it has none (as PWD did)."""
    instance = session.live_instances().filter(state=Instance.State.RUNNING).first()
    if instance is not None:
        return instance
    out.say("Starting an instance for the stack…\n")
    return lifecycle.add_instance(session, lifecycle.InstanceRequest())


async def _compose_up(daemon: Daemon, name: str, project: str, compose: str, out: Output) -> None:
    """Run `docker compose up -d` with the file on its stdin; raise StackFailed unless it succeeds in time."""
    cmd = ["docker", "compose", "--ansi", "never", "-p", project, "-f", "-", "up", "-d"]
    stream = await streams.open_exec(daemon, name, cmd, tty=False, workdir="/root", env={"COMPOSE_PROGRESS": "plain"})
    deadline = asyncio.get_running_loop().time() + settings.STACK_DEPLOY_TIMEOUT
    try:
        async with asyncio.timeout_at(deadline):
            stream.write(compose.encode())
            await stream.drain()  # a `docker` that never reads its stdin waits here, until the deadline
            stream.write_eof()
            await _relay(stream, out, deadline)
    except TimeoutError:
        await asyncio.to_thread(execs.stop_exec, daemon, stream.exec_id)
        raise StackFailed(f"the deploy did not finish within {settings.STACK_DEPLOY_TIMEOUT:.0f} seconds") from None
    except StackFailed:
        await asyncio.to_thread(execs.stop_exec, daemon, stream.exec_id)
        raise
    finally:
        stream.close()
    code = await streams.wait_exit_code(stream)
    await out.flush()
    if code != 0:
        raise StackFailed(f"docker compose exited with {'an unknown status' if code is None else code}")


async def _relay(stream: streams.ExecStream, out: Output, deadline: float) -> None:
    """Hand the exec's stdout and stderr to out until the process ends; at most STACK_OUTPUT_LIMIT bytes."""
    frames, received = streams.Frames(), 0
    loop = asyncio.get_running_loop()
    while True:
        try:
            chunk = await asyncio.wait_for(stream.read(64 * 1024), FLUSH_SECONDS)
        except TimeoutError:
            # The deadline's cancellation may arrive as this wait's own timeout: checked here, never lost.
            if loop.time() >= deadline:
                raise
            await out.flush()  # quiet for a moment: send what has gathered
            continue
        if not chunk:
            return
        received += len(chunk)
        if received > settings.STACK_OUTPUT_LIMIT:
            raise StackFailed(f"the deploy printed more than {settings.STACK_OUTPUT_LIMIT} bytes; it was stopped")
        frames.feed(chunk)
        for _kind, parts in frames.runs():
            out.add(b"".join(parts))
        await out.flush(due=True)


class Output:
    """The deploy's output: sent to viewers as "session builder out", its tail kept on the session."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.kept = ""
        self.pending = ""
        self.sent_at = self.saved_at = 0.0
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def add(self, data: bytes) -> None:
        text = self._decoder.decode(data).replace("\r\n", "\n").replace("\r", "\n")
        self.pending += _ESCAPES.sub("", text)

    async def flush(self, due: bool = False) -> None:
        """Send what gathered; with due, only once FLUSH_SECONDS passed since the last send."""
        now = time.monotonic()
        if not self.pending or (due and now - self.sent_at < FLUSH_SECONDS and len(self.pending) < EVENT_CHARS):
            return
        text, self.pending, self.sent_at = self.pending, "", now
        for start in range(0, len(text), EVENT_CHARS):
            await events.apublish(self.session.id, "session builder out", text[start : start + EVENT_CHARS])
        self._keep(text)
        if now - self.saved_at >= SAVE_SECONDS:
            self.saved_at = now
            await database_sync_to_async(self.session.record_stack)(self.kept)

    def say(self, text: str) -> None:
        """Send a line of the platform's own, outside the exec."""
        self._keep(text)
        self._publish("session builder out", text)
        self.session.record_stack(self.kept)

    def ready(self) -> None:
        self.session.record_stack(self.kept, StackState.READY)
        self._publish("session ready", True)

    def fail(self, reason: str) -> None:
        text, self.pending = f"{self.pending}Error: {reason}\n", ""
        self._keep(text)
        self.session.record_stack(self.kept, StackState.FAILED)
        self._publish("session builder out", text[-EVENT_CHARS:])
        self._publish("session ready", False, reason)

    def _keep(self, text: str) -> None:
        self.kept = (self.kept + text)[-KEPT_CHARS:]

    def _publish(self, name: str, *args: object) -> None:
        try:
            events.publish(self.session.id, name, *args)
        except Exception:
            log.exception("could not publish %r to session %s", name, self.session.id)
