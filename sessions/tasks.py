"""Celery tasks: thin wrappers that take ids, re-read the database, and are safe to run twice."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone
from kombu.exceptions import OperationalError

from sessions import engines, expiry, reconcile, stacks, warm
from sessions.models import Session


@shared_task
def sweep() -> None:
    """Reconcile the database with the engine, and schedule the ending of every session due soon."""
    # No transaction to wait for: the sweep runs in autocommit, so every row it read or wrote is committed
    # already, and an ending re-reads its session anyway.
    reconcile.sweep()
    stacks.fail_stalled()
    for session_id, eta in expiry.sessions_to_end(timezone.now()):
        end_session.apply_async((session_id,), eta=eta)


@shared_task
def check_engines() -> None:
    """Ping every engine: mark one that stopped answering down and end its sessions; one that answers again up."""
    engines.check_all()


@shared_task
def end_session(session_id: str) -> None:
    """End the session if it is due (expired, idle, or its ending stalled); do nothing otherwise."""
    expiry.end_if_due(session_id)


@shared_task
def deploy_stack(session_id: str, compose: str | None = None) -> None:
    """Deploy the session's queued stack: compose (an uploaded file), else the file at its stack URL."""
    stacks.deploy(session_id, compose)


def start_stack_deploy(session: Session, compose: str | None = None) -> None:
    """Send the session's claimed deploy to a worker; if the queue cannot take it, fail the deploy, so the session
    is not left busy until STACK_DEPLOY_LEASE, and raise stacks.QueueUnavailable."""
    try:
        deploy_stack.delay(session.id, compose)
    except OperationalError as e:
        stacks.Output(session).fail("the task queue did not answer; deploy the stack again in a minute")
        raise stacks.QueueUnavailable("the task queue did not answer; deploy the stack again in a minute") from e


@shared_task
def keep_pools_warm() -> None:
    """Reserve the sessions the warm pools lack and boot each in a task; retire the ones they no longer want."""
    # Autocommit, as in the sweep: the reserved rows are committed when keep_warm returns.
    reserved, retiring = warm.keep_warm()
    for session_id in reserved:
        boot_warm_session.delay(session_id)
    for session_id, reason in retiring:
        retire_warm_session.delay(session_id, reason)


@shared_task
def boot_warm_session(session_id: str) -> None:
    """Boot a reserved warm session's instances; nothing if it is booted, booting, claimed or retired."""
    warm.boot(session_id)


@shared_task
def retire_warm_session(session_id: str, reason: str) -> None:
    """End a session still waiting in its warm pool; nothing once a learner has it."""
    warm.retire(session_id, reason)
