"""Celery tasks: thin wrappers that take ids, re-read the database, and are safe to run twice."""

from __future__ import annotations

from functools import partial

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from sessions import expiry, reconcile


@shared_task
def sweep() -> None:
    """Reconcile the database with the engine, and schedule the ending of every session due soon."""
    reconcile.sweep()
    for session_id, eta in expiry.sessions_to_end(timezone.now()):
        transaction.on_commit(partial(end_session.apply_async, (session_id,), eta=eta))


@shared_task
def end_session(session_id: str) -> None:
    """End the session if it is due (expired, idle, or its ending stalled); do nothing otherwise."""
    expiry.end_if_due(session_id)
