"""Joining a workshop: a display name becomes a seat and a session, set up as the trainer wants."""

from __future__ import annotations

import logging
import re
import threading
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from sessions import lifecycle, ratelimit, setup
from sessions.models import Session
from workshops import dashboard, pooling
from workshops.models import Seat, Workshop, new_token

log = logging.getLogger(__name__)


class NotStarted(lifecycle.SandboxError):
    status = 403
    code = "workshop_not_started"


class Ended(lifecycle.SandboxError):
    status = 410
    code = "workshop_ended"


class Full(lifecycle.SandboxError):
    status = 409
    code = "workshop_full"


class TooManySeats(lifecycle.SandboxError):
    status = 429
    code = "too_many_seats"


def seat_of(workshop: Workshop, token: str) -> Seat | None:
    """Return the seat this browser took in the workshop, if any."""
    if not token:
        return None
    seat = Seat.objects.select_related("session").filter(workshop=workshop, token=token).first()
    return None if seat is None or abandoned(seat, timezone.now()) else seat


def abandoned(seat: Seat, now: datetime) -> bool:
    """Tell whether a seat is still without a session long after any join could have set it up (its process died)."""
    return seat.session_id is None and seat.joined_at < now - timedelta(seconds=settings.PROVISIONING_TIMEOUT)


# What new_token() makes: anything else a browser sends in the seat cookie is replaced, never stored.
_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")


def token_from(cookie: str) -> str:
    """Return the browser's seat token if it is one we could have issued, else a new one."""
    return cookie if _TOKEN.fullmatch(cookie) else new_token()


# SQLite has one writer at a time, and a connection that finds it busy sleeps up to 100 ms between tries: 30
# joins at once waited out those sleeps (the last one 0.5-1.0 s, against 0.35-0.4 s queued here, 30 joins in one
# process without the engine). Queued on this lock, each join of this process starts the moment the last ends.
_one_join_at_a_time = threading.Lock()


def join(workshop: Workshop, name: str, token: str, address: str = "") -> Seat:
    """Give a learner a seat and a ready session; refuse a workshop not open or full, or an address past its new
    seats this minute (WORKSHOP_SEATS_PER_ADDRESS_LIMIT), leaving nothing behind.

    The seat takes the browser's token (issued with the join form): a second join from the same browser while
    the first is still setting up gets the same seat back, its session perhaps not ready yet (None).
    """
    now = timezone.now()
    if not workshop.has_started(now):
        raise NotStarted(f"this workshop starts at {workshop.starts_at:%Y-%m-%d %H:%M} UTC; come back then")
    if workshop.has_ended(now):
        raise Ended("this workshop has ended")
    with _one_join_at_a_time, transaction.atomic():
        # One write transaction for the seat and its warm session: a room joining at once queues on SQLite's
        # one writer, and each transaction more per learner lengthened that queue (bench/workshop.py).
        seat, taken = _take_seat(workshop, name, token, address)
        if taken:
            seat.session = pooling.claim(workshop)
            if seat.session is not None:
                Seat.objects.filter(pk=seat.pk).update(session=seat.session)
    if not taken:
        return seat
    if seat.session is None:
        # No warm session ready: start one cold, outside the transaction (it waits on the engine for seconds).
        try:
            seat.session = _start(workshop)
        except lifecycle.SandboxError:
            seat.delete()
            raise
        Seat.objects.filter(pk=seat.pk).update(session=seat.session)
    dashboard.changed(workshop.pk)
    return seat


def _take_seat(workshop: Workshop, name: str, token: str, address: str) -> tuple[Seat, bool]:
    """Return the browser's seat, and whether it was taken just now."""
    with transaction.atomic():
        # Two learners taking the last seat at once, or one browser joining twice at once: the lock on the
        # workshop's row makes the second see the first one's seat (SQLite locks the whole file).
        Workshop.objects.select_for_update().get(pk=workshop.pk)
        mine = Seat.objects.select_related("session").filter(token=token).first()
        if mine is not None and mine.workshop_id == workshop.pk:
            if not abandoned(mine, timezone.now()):
                return mine, False
            mine.delete()  # the join that took it died before its session was set up: take it afresh
            mine = None
        if workshop.seat_set.count() >= workshop.seats:
            raise Full(f"all {workshop.seats} seats of this workshop are taken; ask your trainer")
        if not _may_take_a_seat(workshop, address):
            raise TooManySeats("too many new seats were taken from your address this minute; try again in a minute")
        # A token another workshop's seat holds (only a hand-made cookie has one) is not this browser's seat.
        return Seat.objects.create(workshop=workshop, name=name, token=new_token() if mine else token), True


def _may_take_a_seat(workshop: Workshop, address: str) -> bool:
    """Count a new seat for the address; tell whether it stays within the workshop's seats this minute.

    Counted over every workshop: 30 learners behind one classroom NAT fill a 30-seat room, but one address holding
    several codes cannot fill them all in a burst. Only new seats count: a browser coming back to its seat never.
    """
    if not (settings.WORKSHOP_SEATS_PER_ADDRESS_LIMIT and address):
        return True
    return ratelimit.allow("seat", address, workshop.seats)


def _start(workshop: Workshop) -> Session:
    """Start a session cold and set it up; not counted against the address's limits (the seat is the allowance)."""
    session = lifecycle.start_session(
        workshop.playground, duration=workshop.session_length, image=workshop.image, client_address=None
    )
    nodes = workshop.nodes()
    try:
        if workshop.template.strip():
            setup.setup_session(session, nodes)
        else:
            # Plain nodes need no setup run, nor one of its few slots (SETUPS_AT_ONCE): a room joining at once
            # was refused past them (429, bench/workshop.py).
            for _ in nodes:
                lifecycle.add_instance(session, lifecycle.InstanceRequest())
    except lifecycle.SandboxError:
        lifecycle.end_session(session, reason="workshop setup failed")
        raise
    return session
