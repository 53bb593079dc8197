"""Sessions end on time: which are due (expired, idle, an ending that stalled), and ending one once it is."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from sessions import lifecycle
from sessions.models import Session

log = logging.getLogger(__name__)


def sessions_to_end(now: datetime) -> list[tuple[str, datetime | None]]:
    """List sessions due to end now (expired, idle, stalled ending) and those expiring before the next sweep."""
    due = {
        *Session.objects.expired(now).values_list("pk", flat=True),
        *Session.objects.idle(now).values_list("pk", flat=True),
        *Session.objects.stalled(now).values_list("pk", flat=True),
    }
    # Ending these on time instead of at the next sweep keeps expiry prompt; looking two intervals ahead
    # covers a late sweep. Ending tasks are idempotent, so one scheduled twice is harmless.
    horizon = now + timedelta(seconds=2 * settings.SWEEP_INTERVAL)
    soon = (
        Session.objects.handed_out().filter(expires_at__gt=now, expires_at__lte=horizon).values_list("pk", "expires_at")
    )
    return [(pk, None) for pk in sorted(due)] + list(soon)


def end_if_due(session_id: str) -> None:
    """End the session if it expired, went idle, or its ending stalled; otherwise leave it alone."""
    now = timezone.now()
    one = Session.objects.filter(pk=session_id)
    session = one.select_related("playground").first()
    if session is None:
        return
    if one.expired(now).exists():
        reason = "expired"
    elif one.idle(now).exists():
        reason = "idle"
    elif session.state == Session.State.ENDING:
        reason = session.end_reason
    else:
        return  # extended, or scheduled ahead and not due yet: a later sweep schedules it again
    try:
        lifecycle.end_session(session, reason)
    except lifecycle.SandboxError as e:
        log.warning("ending session %s failed; the sweep retries once its claim lapses: %s", session_id, e)
