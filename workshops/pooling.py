"""A workshop's warm pool: sessions set up with its template ahead of its learners (sessions/warm.py fills it)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Count
from django.utils import timezone

from sessions import pools
from sessions.models import Session
from workshops.models import Seat, Workshop


def spec(workshop: Workshop, seats_taken: int) -> pools.PoolSpec:
    """Return the workshop's pool: empty outside [starts_at - WORKSHOP_WARM_LEAD, ends_at], never past free seats."""
    now = timezone.now()
    lead = timedelta(seconds=settings.WORKSHOP_WARM_LEAD)
    open_now = workshop.starts_at - lead <= now < workshop.ends_at
    nodes = workshop.nodes()
    size = min(workshop.warm_pool, workshop.seats - seats_taken) if open_now and nodes else 0
    return pools.PoolSpec(
        playground=workshop.playground,
        name=workshop.pool_key_name,
        image=workshop.image or workshop.playground.default_image,
        instances=len(nodes),
        size=max(0, size),
        setup=tuple(nodes) if workshop.template.strip() else (),
    )


def spec_of(workshop: Workshop) -> pools.PoolSpec:
    return spec(workshop, workshop.seat_set.count())


def specs() -> list[pools.PoolSpec]:
    """Return the pools of every workshop that has one and has not ended; the rest are retired."""
    pooled = Workshop.objects.pooled(timezone.now()).select_related("playground").annotate(taken=Count("seat_set"))
    return [spec(workshop, workshop.taken) for workshop in pooled]  # type: ignore[attr-defined]


def kept(session_id: str) -> bool:
    """Tell whether the session is a learner's in a workshop: its recordings stay until the workshop is deleted."""
    return Seat.objects.filter(session_id=session_id).exists()


def claim(workshop: Workshop) -> Session | None:
    """Hand a ready session of the workshop's pool to a learner, its clock started now; None when none is ready."""
    pool = spec_of(workshop)
    if not workshop.warm_pool or not pool.instances:
        return None
    lifetime = min(workshop.session_length, workshop.playground.session_duration)
    return Session.claim_warm(pool.key, pool.instances, lifetime)
