"""Keep warm pools filled: sessions whose nodes are booted ahead, so a learner's first prompt needs no boot.

The beat runs keep_warm() every sweep; it reserves the rows of the sessions to boot, and a task boots each
(boot()). Warm sessions are retired (retire()) when too old, broken, or more than their pool wants.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

import engine
from engine import daemon
from sessions import capacity, engines, lifecycle, pools, setup
from sessions.models import Instance, Playground, Session

log = logging.getLogger(__name__)


def keep_warm() -> tuple[list[str], list[tuple[str, str]]]:
    """Return the warm sessions reserved now, to boot, and those to retire with why, for every pool."""
    now = timezone.now()
    specs = pools.all_specs()
    retire = [(pk, "its warm pool is gone") for pk in _unknown_pools(specs)]
    reserved: list[str] = []
    for spec in specs:
        retire += _to_retire(spec, now)
        reserved += _reserve(spec, {pk for pk, _ in retire})
    return reserved, retire


def _unknown_pools(specs: list[pools.PoolSpec]) -> list[str]:
    waiting = Session.objects.live().exclude(pool="").exclude(pool__in=[spec.key for spec in specs])
    return list(waiting.values_list("pk", flat=True))


def _to_retire(spec: pools.PoolSpec, now: datetime) -> list[tuple[str, str]]:
    """Return the pool's sessions to retire: too old, broken, booting for too long, then the oldest past its size."""
    warm = Session.objects.warm(spec.key)
    old = warm.filter(created_at__lte=now - timedelta(seconds=settings.WARM_POOL_MAX_AGE))
    # An instance the sweep found vanished, or a boot whose worker died: the session never becomes ready.
    broken = warm.filter(instances__state=Instance.State.GONE)
    stuck = warm.exclude(pk__in=warm.ready(spec.instances)).filter(
        created_at__lte=now - timedelta(seconds=settings.PROVISIONING_TIMEOUT)
    )
    reasons = {pk: "broken" for pk in [*broken.values_list("pk", flat=True), *stuck.values_list("pk", flat=True)]}
    # Never handed out from an engine draining or disabled (Session.claim_warm), yet counted in the pool: while they
    # waited, every learner would start cold, and a drained engine would hold them until WARM_POOL_MAX_AGE.
    closed = warm.exclude(pk__in=warm.on_open_engines())
    reasons.update((pk, "its engine takes no new sessions") for pk in closed.values_list("pk", flat=True))
    reasons.update((pk, "too old") for pk in old.values_list("pk", flat=True))
    kept = list(warm.exclude(pk__in=list(reasons)).order_by("created_at").values_list("pk", flat=True))
    reasons.update((pk, "the pool is smaller now") for pk in kept[: max(0, len(kept) - spec.size)])
    return list(reasons.items())


def _reserve(spec: pools.PoolSpec, leaving: set[str]) -> list[str]:
    """Insert the rows of the sessions the pool lacks, as many as may boot at once and the host has room for."""
    warm = Session.objects.warm(spec.key).exclude(pk__in=leaving)
    if warm.count() >= spec.size or spec.instances < 1:
        return []
    room = _room(spec)  # reads the engine and /proc: not while holding the lock below
    with transaction.atomic():
        # Two workers running this at once would both see the pool short and both fill it: the lock on the
        # playground's row makes the second wait and count the first one's rows (SQLite locks the whole file).
        # FOR NO KEY UPDATE, not FOR UPDATE: a learner's start holding the engines' rows (engines.place) checks
        # its session's playground key (KEY SHARE) before it ends; FOR UPDATE made it wait on this transaction,
        # which waits on its engines' rows, and PostgreSQL broke the deadlock by failing one of the two.
        Playground.objects.select_for_update(no_key=True).get(pk=spec.playground.pk)
        waiting = warm.count()
        booting = waiting - warm.ready(spec.instances).count()
        wanted = min(spec.size - waiting, settings.WARM_POOL_BOOTS_AT_ONCE - booting, room)
        # Its clock starts when a learner claims it; until then it lives no longer than WARM_POOL_MAX_AGE, and
        # its certificates (valid a day past expires_at) must outlast the longest session claimed at that age.
        now = timezone.now()
        expires = now + timedelta(seconds=settings.WARM_POOL_MAX_AGE) + spec.playground.session_duration
        reserved = []
        for _ in range(wanted):
            try:
                placed = engines.place()  # after each insert, so the pool's sessions spread like learners' do
            except engines.NoRoom as e:
                log.warning("not filling warm pool %s: %s", spec.key, e)
                break
            session = Session.objects.create(
                playground=spec.playground,
                engine=placed,
                created_at=now,
                expires_at=expires,
                image_name=spec.image,
                pool=spec.key,
            )
            reserved.append(session.pk)
        return reserved


def _room(spec: pools.PoolSpec) -> int:
    """Return how many more sessions of this pool the host takes, leaving learners WARM_POOL_KEEP_FREE of it."""
    # Warm instances count against capacity like any other: a pool must never turn a learner away.
    limit = capacity.instance_limit()
    kept_free = limit * settings.WARM_POOL_KEEP_FREE // 100
    free = limit - kept_free - capacity.in_use(Instance.objects.live().on_this_host().count())
    try:
        refusal = capacity.refusal(daemon.default().data_root())
    except engine.EngineError as e:
        refusal = str(e)
    if refusal:
        log.warning("not filling warm pool %s: %s", spec.key, refusal)
        return 0
    return max(0, free // spec.instances)


def boot(session_id: str) -> None:
    """Boot a reserved warm session's network and instances; retire it if that fails. Safe to run twice."""
    session = Session.objects.select_related("playground").filter(pk=session_id).exclude(pool="").first()
    if session is None or not session.is_live or session.instances.exists():
        return  # claimed, retired, or booted (or booting) already: a task delivered twice
    spec = next((s for s in pools.all_specs() if s.key == session.pool), None)
    if spec is None:
        retire(session_id, "its warm pool is gone")
        return
    try:
        lifecycle.open_network(session)
        if spec.setup:
            setup.setup_session(session, list(spec.setup))
        for _ in range(0 if spec.setup else spec.instances):
            lifecycle.add_instance(session, lifecycle.InstanceRequest())
    except lifecycle.SandboxError as e:
        log.warning("could not boot warm session %s of pool %s: %s", session.id, spec.key, e)
        retire(session_id, "could not boot")


def retire(session_id: str, reason: str) -> None:
    """End a session still waiting in its warm pool, removing everything it owns; never one a learner claimed."""
    session = Session.objects.filter(pk=session_id).exclude(pool="").first()
    if session is None:
        return
    try:
        lifecycle.retire_warm(session, f"warm pool: {reason}")
    except lifecycle.SandboxError as e:
        log.warning("could not retire warm session %s; the sweep finishes it: %s", session_id, e)
