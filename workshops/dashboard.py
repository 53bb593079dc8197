"""What a trainer sees of the room, and what they do to it: seats, their sessions, extend, end, broadcast."""

from __future__ import annotations

import csv
import io
import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.utils import timezone

from sessions import events, lifecycle, recordings
from sessions.models import Session
from workshops import lessons
from workshops.models import Seat, Workshop

log = logging.getLogger(__name__)

BROADCAST_EVENT = "workshop message"
BROADCAST_MAX = 500
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def group_name(workshop_id: int) -> str:
    return f"workshop-{workshop_id}"


def changed(workshop_id: int) -> None:
    """Tell the workshop's dashboards to refresh; a dashboard missing it must never fail the change itself."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group_name(workshop_id), {"type": "workshop.changed"})
    except Exception:
        log.exception("could not tell the dashboards of workshop %s", workshop_id)


def seats(workshop: Workshop) -> list[Seat]:
    return list(workshop.seat_set.select_related("session").prefetch_related("step_checks"))


def snapshot(workshop: Workshop) -> dict[str, Any]:
    """Return the dashboard's rows: each seat's learner, state, time left, last activity and instances."""
    now = timezone.now()
    steps = _step_count(workshop)
    rows = []
    for seat in seats(workshop):
        session = seat.session
        live = session is not None and session.is_live
        rows.append(
            {
                "seat": seat.pk,
                "name": seat.name,
                "state": session.state if session else "starting",
                "session": session.id if session else "",
                "seconds_left": max(0, int((session.expires_at - now).total_seconds())) if live and session else 0,
                "last_activity": seat.last_activity.isoformat(),
                "joined_at": seat.joined_at.isoformat(),
                "instances": _instances(session),
                "lesson": _progress(seat, steps),
            }
        )
    return {"now": now.isoformat(), "seats": rows, "free": workshop.seats - len(rows), "steps": steps}


def _step_count(workshop: Workshop) -> int:
    try:
        return len(workshop.steps())
    except lessons.LessonError:
        return 0


def _progress(seat: Seat, steps: int) -> list[str]:
    """Return each step's last verdict for the seat: "passed", "failed", or "" when never checked."""
    marks = [""] * steps
    for check in seat.step_checks.all():
        if check.step < steps:
            marks[check.step] = "passed" if check.passed else "failed"
    return marks


def _instances(session: Session | None) -> list[dict[str, str]]:
    """Return every instance the session had, gone ones too: their recordings stay for replay."""
    if session is None:
        return []
    return [{"name": i.name, "hostname": i.hostname} for i in session.instances.order_by("created_at", "id")]


def live_sessions(workshop: Workshop, seat_id: int | None = None) -> list[Session]:
    """Return the live sessions of the workshop's seats, or of one seat."""
    found = Session.objects.live().filter(seats__workshop=workshop).select_related("playground")
    return list(found.filter(seats__pk=seat_id) if seat_id is not None else found)


def extend(workshop: Workshop, seat_id: int | None = None) -> list[str]:
    """Extend the live sessions of one seat or all; return the refusals, one per session that could not move."""
    refusals = []
    for session in live_sessions(workshop, seat_id):
        try:
            lifecycle.extend_session(session)
        except lifecycle.SandboxError as e:
            refusals.append(str(e))
    changed(workshop.pk)
    return refusals


def end(workshop: Workshop, seat_id: int | None = None) -> None:
    """End the live sessions of one seat or all, removing their Docker objects; their recordings stay."""
    for session in live_sessions(workshop, seat_id):
        lifecycle.end_session(session, reason="ended by the trainer", keep_recordings=True)
    changed(workshop.pk)


def broadcast(workshop: Workshop, text: str) -> int:
    """Show a message on every learner's session page; return how many sessions it was sent to."""
    sessions = live_sessions(workshop)
    for session in sessions:
        events.publish(session.id, BROADCAST_EVENT, text[:BROADCAST_MAX])
    return len(sessions)


def teardown(workshop: Workshop) -> None:
    """End every session of the workshop and delete their recordings: what deleting the workshop must do first."""
    ids = list(Session.objects.filter(seats__workshop=workshop).values_list("pk", flat=True))
    end(workshop)
    for session_id in ids:
        recordings.remove(session_id)


def tear_down_deleted(sender: type[Workshop], instance: Workshop, **kwargs: Any) -> None:
    """Tear a workshop down as it is deleted (a pre_delete receiver)."""
    teardown(instance)


def attendance_csv(workshop: Workshop) -> str:
    """Return the attendance as CSV: one line per seat."""
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL)
    writer.writerow(["name", "joined_at", "last_activity", "session", "state"])
    for seat in seats(workshop):
        state = seat.session.state if seat.session else ""
        # A name starting with =, +, -, @, a tab or a CR is a formula to a spreadsheet (OWASP's CSV injection):
        # a leading quote makes it text.
        name = f"'{seat.name}" if seat.name.startswith(FORMULA_STARTS) else seat.name
        writer.writerow([name, seat.joined_at.isoformat(), seat.last_activity.isoformat(), seat.session_id, state])
    return out.getvalue()
