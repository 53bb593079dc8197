"""Celery tasks: thin wrappers that take ids, re-read the database, and are safe to run twice."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from sessions import expiry, reconcile, stacks


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
def end_session(session_id: str) -> None:
    """End the session if it is due (expired, idle, or its ending stalled); do nothing otherwise."""
    expiry.end_if_due(session_id)


@shared_task
def deploy_stack(session_id: str, compose: str | None = None) -> None:
    """Deploy the session's queued stack: compose (an uploaded file), else the file at its stack URL."""
    stacks.deploy(session_id, compose)
