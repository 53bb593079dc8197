"""Playgrounds, the sessions learners start in them, and the sandbox instances of each session."""

from __future__ import annotations

import base64
import secrets
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import models, transaction
from django.db.models import Case, Count, DateTimeField, ExpressionWrapper, F, Q, Value, When
from django.utils import timezone

from engine import EngineError, daemon, names
from engine.daemon import Daemon
from sessions import capacity


def default_sandbox_image() -> str:
    """Return the image bin/setup builds (SANDBOX_IMAGE), the default of new playgrounds."""
    return str(settings.SANDBOX_IMAGE)


def new_session_id() -> str:
    """Return 130 random bits as lowercase base32: safe in URLs, DNS labels and ssh user names."""
    return base64.b32encode(secrets.token_bytes(17)).decode().lower().rstrip("=")[:26]


class Playground(models.Model):
    domain = models.CharField(max_length=253, unique=True, help_text="Host name the site answers on.")
    default_image = models.CharField(max_length=200, default=default_sandbox_image)
    extra_images = models.JSONField(default=list, blank=True, help_text="Other images learners may choose.")
    session_duration = models.DurationField(default=timedelta(hours=4))
    max_instances = models.PositiveSmallIntegerField(default=5)
    memory_limit_mb = models.PositiveIntegerField(default=2048)
    cpu_limit = models.FloatField(default=1.0, help_text="CPUs per instance.")
    pids_limit = models.PositiveIntegerField(default=4096)
    idle_timeout = models.DurationField(null=True, blank=True, help_text="Empty: sessions are never culled as idle.")
    max_session_duration = models.DurationField(
        null=True, blank=True, help_text="How long learners may extend a session to, in all; empty: no extending."
    )

    def __str__(self) -> str:
        return self.domain

    @classmethod
    def for_host(cls, host: str) -> Playground:
        """Return the playground serving this host name, else the first one configured."""
        domain = host.split(":")[0].lower()
        playground = cls.objects.filter(domain=domain).first() or cls.objects.order_by("id").first()
        if playground is None:
            # migrate creates the first one (sessions/apps.py).
            raise ImproperlyConfigured("no playground configured: run manage.py migrate")
        return playground

    @property
    def duration_label(self) -> str:
        """Return the session length as people say it: "4 hours", "90 minutes"."""
        minutes = int(self.session_duration.total_seconds() // 60)
        if minutes % 60 == 0:
            hours = minutes // 60
            return f"{hours} hour{'s' if hours != 1 else ''}"
        return f"{minutes} minute{'s' if minutes != 1 else ''}"

    @property
    def images(self) -> list[str]:
        return list(dict.fromkeys([self.default_image, *self.extra_images]))

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "domain": self.domain,
            "default_image": self.default_image,
            "available_images": self.images,
            "default_session_duration": int(self.session_duration.total_seconds()),
            "max_instances": self.max_instances,
            "memory_limit_mb": self.memory_limit_mb,
            "cpu_limit": self.cpu_limit,
            "pids_limit": self.pids_limit,
            "idle_timeout": int(self.idle_timeout.total_seconds()) if self.idle_timeout else None,
            "max_session_duration": (
                int(self.max_session_duration.total_seconds()) if self.max_session_duration else None
            ),
        }


# Engines at these addresses run on this host: their sandboxes count against the host's own capacity.
LOCAL_SCHEMES = ("unix://", "http+unix://")


def check_engine_url(url: str) -> None:
    """Refuse an engine address the platform cannot reach: only unix:// and tcp:// are spoken."""
    try:
        daemon.check_address(url)
    except EngineError as e:
        raise ValidationError(str(e)) from e


def check_engine_tls(tls: str) -> None:
    """Refuse a TLS directory without a CA, a client certificate and its key that load."""
    try:
        daemon.check_tls(tls)
    except EngineError as e:
        raise ValidationError(str(e)) from e


class EngineQuerySet(models.QuerySet["Engine"]):
    # The operator's transitions, written once for the admin and `manage.py engines`; each returns how many changed.
    def drain(self) -> int:
        """Send no new session to these engines; their sessions run to their end."""
        return self._set(draining=True)

    def enable(self) -> int:
        """Take new sessions on these engines again (undoes drain and disable)."""
        return self._set(enabled=True, draining=False)

    def disable(self) -> int:
        """Send no new session to these engines."""
        return self._set(enabled=False)

    def _set(self, **fields: bool) -> int:
        # Rows locked in the order a placement locks them (sessions/engines.py), so the two never deadlock.
        with transaction.atomic():
            pks = list(self.select_for_update(no_key=True).order_by("pk").values_list("pk", flat=True))
            return self.model.objects.filter(pk__in=pks).update(**fields)


class Engine(models.Model):
    """A Docker engine that runs sessions: every instance of a session lives on the engine it was placed on."""

    name = models.SlugField(max_length=50, unique=True)
    url = models.CharField(
        max_length=255, unique=True, validators=[check_engine_url], help_text="unix:///path or tcp://host:port"
    )
    memory_bytes = models.PositiveBigIntegerField(help_text="Memory its sandboxes may take together, in bytes.")
    enabled = models.BooleanField(default=True, help_text="Off: no new session goes there.")
    draining = models.BooleanField(default=False, help_text="No new session goes there; its sessions run to their end.")
    # Set by the health check (sessions/engines.py) after ENGINE_DOWN_AFTER failed pings in a row; cleared when
    # it answers again.
    down_since = models.DateTimeField(null=True, blank=True)
    failed_pings = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)
    remote = models.BooleanField(
        default=False,
        help_text="On another host though its address is a unix socket here (forwarded over ssh): its instances do "
        "not count against this host's capacity, and its memory is sampled through its API.",
    )
    # The mean memory its running sandboxes take, as the health check last sampled it (engines on other hosts:
    # this host's cgroups measure its own); None before it has seen any.
    instance_bytes = models.PositiveBigIntegerField(null=True, blank=True)
    tls = models.CharField(
        "TLS directory",
        max_length=255,
        blank=True,
        validators=[check_engine_tls],
        help_text="For a tcp:// engine: the directory of its client files (ca.pem, cert.pem, key.pem, as "
        "compose/engine/start --tls makes them); it is then reached over TLS, its certificate checked against ca.pem.",
    )

    objects = EngineQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.tls and not self.url.startswith("tcp://"):
            raise ValidationError({"tls": "TLS is for an engine at tcp://host:port; a unix socket is spoken as it is."})

    @classmethod
    def default(cls) -> Engine:
        """Return the engine named "default", else the first; with none configured, make one from SANDBOX_ENGINE.

        Made on first use, so a deployment of one engine configures nothing; its room is the host's memory less
        the reserve, as for the host's own capacity (sessions/capacity.py).
        """
        found = cls.objects.filter(name="default").first() or cls.objects.order_by("pk").first()
        if found is not None:
            return found
        room_mb = max(capacity.memory_total_mb() - settings.SANDBOX_MEMORY_RESERVE_MB, 0)
        engine, _ = cls.objects.get_or_create(
            name="default", defaults={"url": settings.SANDBOX_ENGINE, "memory_bytes": room_mb * capacity.MIB}
        )
        return engine

    @property
    def daemon(self) -> Daemon:
        return Daemon(self.url, self.tls)

    @property
    def is_local(self) -> bool:
        """Tell whether it runs on this host (whose memory and disk are measured): a unix socket not marked remote."""
        return self.url.startswith(LOCAL_SCHEMES) and not self.remote

    @property
    def state(self) -> str:
        """Return what new sessions see of it: up, down, draining or disabled."""
        if self.down_since is not None:
            return "down"
        if not self.enabled:
            return "disabled"
        return "draining" if self.draining else "up"


# Times a start tries to claim a ready warm session before it starts one cold: each lost race costs one UPDATE.
CLAIM_ATTEMPTS = 5
# Activity is recorded at this resolution, so a busy terminal costs one write per half minute, not per key.
ACTIVITY_RESOLUTION = timedelta(seconds=30)


class StackState(models.TextChoices):
    QUEUED = "queued"
    DEPLOYING = "deploying"
    READY = "ready"
    FAILED = "failed"


def _stalled(now: datetime) -> Q:
    """Match sessions whose ending was claimed longer than ENDING_LEASE ago and never finished."""
    lease_start = now - timedelta(seconds=settings.ENDING_LEASE)
    return Q(state=Session.State.ENDING) & (Q(ended_at__isnull=True) | Q(ended_at__lte=lease_start))


def _deploying(now: datetime) -> Q:
    """Match sessions whose stack deploy is queued or running, claimed less than STACK_DEPLOY_LEASE ago."""
    lease_start = now - timedelta(seconds=settings.STACK_DEPLOY_LEASE)
    return Q(stack_state__in=[StackState.QUEUED, StackState.DEPLOYING]) & Q(stack_started_at__gt=lease_start)


class SessionQuerySet(models.QuerySet["Session"]):
    def live(self) -> SessionQuerySet:
        return self.filter(state=Session.State.ACTIVE)

    def on_open_engines(self) -> SessionQuerySet:
        """Filter sessions whose engine takes new sessions: not draining, disabled, or down."""
        return self.filter(engine__enabled=True, engine__draining=False, engine__down_since__isnull=True)

    def handed_out(self) -> SessionQuerySet:
        """Filter live sessions a learner holds: not those waiting in a warm pool."""
        return self.live().filter(pool="")

    def warm(self, pool: str) -> SessionQuerySet:
        """Filter live sessions waiting in this warm pool, booted or still booting."""
        return self.live().filter(pool=pool)

    def ready(self, instances: int) -> SessionQuerySet:
        """Filter sessions with exactly this many instances, every one running."""
        running = Q(instances__state=Instance.State.RUNNING)
        return self.alias(running=Count("instances", filter=running), other=Count("instances", filter=~running)).filter(
            running=instances, other=0
        )

    def touch(self) -> int:
        """Record activity now on these sessions, skipping those touched within ACTIVITY_RESOLUTION."""
        now = timezone.now()
        return self.filter(last_activity_at__lt=now - ACTIVITY_RESOLUTION).update(last_activity_at=now)

    def expired(self, now: datetime) -> SessionQuerySet:
        return self.handed_out().filter(expires_at__lte=now)

    def idle(self, now: datetime) -> SessionQuerySet:
        """Filter live sessions of playgrounds with an idle timeout whose last activity is older than it."""
        idle_until = ExpressionWrapper(
            F("last_activity_at") + F("playground__idle_timeout"), output_field=DateTimeField()
        )
        return (
            self.handed_out()
            .filter(playground__idle_timeout__isnull=False)
            .alias(idle_until=idle_until)
            .filter(idle_until__lte=now)
        )

    def stalled(self, now: datetime) -> SessionQuerySet:
        return self.filter(_stalled(now))

    def deploying(self, now: datetime) -> SessionQuerySet:
        """Filter live sessions whose stack deploy is queued or running, and not past STACK_DEPLOY_LEASE."""
        return self.live().filter(_deploying(now))


class Session(models.Model):
    class State(models.TextChoices):
        ACTIVE = "active"
        ENDING = "ending"
        ENDED = "ended"

    id = models.CharField(primary_key=True, max_length=32, default=new_session_id, editable=False)
    playground = models.ForeignKey(Playground, on_delete=models.PROTECT, related_name="sessions")
    state = models.CharField(max_length=10, choices=State.choices, default=State.ACTIVE)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    last_activity_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=40, blank=True)
    image_name = models.CharField(max_length=200, blank=True)
    stack = models.URLField(max_length=500, blank=True)
    stack_name = models.CharField(max_length=100, blank=True)
    # Where the session's stack deploy is, and the tail of its output, for a page that opens (or reloads) late.
    stack_state = models.CharField(max_length=10, choices=StackState.choices, blank=True)
    stack_started_at = models.DateTimeField(null=True, blank=True)
    stack_output = models.TextField(blank=True)
    # Who started it, for the cap on sessions one client holds at once (SESSIONS_PER_CLIENT).
    client_address = models.GenericIPAddressField(null=True, blank=True)
    # The warm pool holding this session, booted ahead for the next learner (sessions/warm.py); empty once a
    # learner has it, and for every session started cold.
    pool = models.CharField(max_length=255, blank=True, db_index=True)
    # The engine that runs its network and every instance of it, chosen when it starts (sessions/engines.py);
    # one saved without it goes on the default engine (see save). Null only in the database: in a row written by
    # the code from before engines during an upgrade, which daemon places on the default engine on first use.
    engine = models.ForeignKey(Engine, on_delete=models.PROTECT, null=True, related_name="sessions")

    objects = SessionQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["state", "expires_at"])]

    def __str__(self) -> str:
        return self.id

    def save(self, *args: Any, **kwargs: Any) -> None:
        # A session placed on no engine (by a test, the admin) goes where a deployment of one engine runs all.
        if self.engine_id is None:
            self.engine = Engine.default()
        super().save(*args, **kwargs)

    @property
    def is_live(self) -> bool:
        return self.state == self.State.ACTIVE

    @property
    def daemon(self) -> Daemon:
        """Return the engine that runs the session's network and every instance of it."""
        if self.engine is None and not self._state.adding:
            # Started by a process still on the code from before engines, while migration 0008 ran (an upgrade
            # keeps web running through it): that code ran every session on SANDBOX_ENGINE's engine.
            self.engine = Engine.default()
            Session.objects.filter(pk=self.pk, engine__isnull=True).update(engine=self.engine)
        if self.engine is None:
            raise ImproperlyConfigured(f"session {self.id} was never saved, so it is on no engine")
        return self.engine.daemon

    @property
    def default_image(self) -> str:
        return self.image_name or self.playground.default_image

    @classmethod
    def claim_warm(cls, pool: str, instances: int, lifetime: timedelta, **fields: Any) -> Session | None:
        """Hand a ready session of this warm pool to a learner, its clock started now; None when none is ready."""
        # Not from an engine that takes no new sessions: draining, disabled, or down.
        waiting = cls.objects.warm(pool).ready(instances).on_open_engines().values("pk")
        # The oldest ready session, locked; one another start has locked is skipped (PostgreSQL), so starts at the
        # same instant each take a different one instead of all reading the oldest and all but one losing it.
        # (The lock is taken outside the counting query: PostgreSQL locks no row of a GROUP BY.)
        ready = (
            cls.objects.filter(pk__in=waiting)
            .order_by("created_at")
            .select_for_update(skip_locked=True, no_key=True)
            .values_list("pk", flat=True)
        )
        for _ in range(CLAIM_ATTEMPTS):
            # Read the oldest ready session afresh on each attempt, in the transaction that claims it: SQLite runs
            # it alone (BEGIN IMMEDIATE), so the session read is still there to claim. Reading a list once, outside,
            # made 30 learners joining at once race for the same few sessions, and 9 of them start cold though
            # the pool was full (bench/workshop.py).
            with transaction.atomic():
                pk = ready.first()
                if pk is None:
                    return None
                now = timezone.now()
                # Conditional on still waiting in the pool, for a database that runs transactions side by side: of
                # two starts racing for one session, or a start and the pool retiring it, exactly one wins.
                claimed = cls.objects.filter(pk=pk, pool=pool, state=cls.State.ACTIVE).update(
                    pool="", created_at=now, expires_at=now + lifetime, last_activity_at=now, **fields
                )
            if claimed:
                return cls.objects.select_related("playground").get(pk=pk)
        return None

    def claim_ending(self, reason: str, warm_only: bool = False) -> bool:
        """Move the session to ENDING, or take over an ending that stalled; return False when someone holds it.

        With warm_only, a live session is claimed only while it still waits in its warm pool.
        """
        # One conditional UPDATE, so two workers (or a worker and a DELETE request) never both end it; ended_at
        # is the claim's lease until mark_ended, so a worker killed halfway does not strand the session.
        now = timezone.now()
        active = Q(state=self.State.ACTIVE) & ~Q(pool="") if warm_only else Q(state=self.State.ACTIVE)
        claimable = Session.objects.filter(active | _stalled(now), pk=self.pk)
        claimed = claimable.update(
            state=self.State.ENDING,
            ended_at=now,
            end_reason=Case(When(state=self.State.ACTIVE, then=Value(reason)), default=F("end_reason")),
        )
        self.refresh_from_db(fields=["state", "end_reason", "ended_at"])
        return bool(claimed)

    def mark_ended(self) -> bool:
        """Move an ending session to ENDED; return False when another caller (one that took it over) did."""
        ended = Session.objects.filter(pk=self.pk, state=self.State.ENDING).update(
            state=self.State.ENDED, ended_at=timezone.now()
        )
        self.instances.exclude(state=Instance.State.GONE).update(state=Instance.State.GONE)
        self.refresh_from_db(fields=["state", "ended_at"])
        return bool(ended)

    @property
    def extension_limit(self) -> datetime | None:
        """Return the latest deadline extending may reach, or None when the playground allows no extending."""
        limit = self.playground.max_session_duration
        return self.created_at + limit if limit else None

    def extend(self) -> bool:
        """Push the deadline a full session length from now, up to the extension limit; False when it cannot move."""
        limit = self.extension_limit
        if limit is None:
            return False
        now = timezone.now()
        deadline = min(now + self.playground.session_duration, limit)
        # Conditional, so a session the sweep already found overdue is never revived behind its back.
        extended = Session.objects.filter(
            pk=self.pk, state=self.State.ACTIVE, expires_at__gt=now, expires_at__lt=deadline
        ).update(expires_at=deadline)
        self.refresh_from_db(fields=["state", "expires_at"])
        return bool(extended)

    def claim_stack(self, name: str, url: str = "") -> bool:
        """Queue a stack deploy, unless one is queued or running; False when one is (and its lease holds)."""
        # One conditional UPDATE: two uploads (or an upload and the start's stack) never deploy at once. A deploy
        # whose worker died holds the session no longer than STACK_DEPLOY_LEASE.
        now = timezone.now()
        fields = {"stack_name": name, **({"stack": url} if url else {})}
        claimed = (
            Session.objects.filter(pk=self.pk, state=self.State.ACTIVE)
            .exclude(_deploying(now))
            .update(stack_state=StackState.QUEUED, stack_started_at=now, stack_output="", **fields)
        )
        self.refresh_from_db(fields=["stack_state", "stack_started_at", "stack_output", "stack", "stack_name"])
        return bool(claimed)

    def begin_stack(self) -> bool:
        """Move a queued deploy to DEPLOYING; False when none is queued (a redelivered task, a deploy done)."""
        begun = Session.objects.filter(pk=self.pk, state=self.State.ACTIVE, stack_state=StackState.QUEUED).update(
            stack_state=StackState.DEPLOYING, stack_started_at=timezone.now()
        )
        self.refresh_from_db(fields=["stack_state", "stack_started_at"])
        return bool(begun)

    def record_stack(self, output: str, state: str = StackState.DEPLOYING) -> None:
        """Keep the tail of the deploy's output, and its state once it ends, for viewers who come later."""
        Session.objects.filter(pk=self.pk, stack_started_at=self.stack_started_at).update(
            stack_output=output, stack_state=state
        )

    def live_instances(self) -> models.QuerySet[Instance]:
        return self.instances.exclude(state=Instance.State.GONE).order_by("created_at", "id")

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "state": self.state,
            "created_at": self.created_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
            "image_name": self.default_image,
            "stack": self.stack,
            "stack_name": self.stack_name,
            "stack_state": self.stack_state,
            "stack_output": self.stack_output,
            "host": self.playground.domain,
            "instances": {i.name: i.to_json() for i in self.live_instances()},
        }


class InstanceQuerySet(models.QuerySet["Instance"]):
    def live(self) -> InstanceQuerySet:
        """Filter instances that exist or are being created: what counts against capacity."""
        return self.exclude(state=Instance.State.GONE)

    def on_this_host(self) -> InstanceQuerySet:
        """Filter instances of sessions on an engine of this host: those count against its capacity, not others'."""
        here = Q()
        for scheme in LOCAL_SCHEMES:
            here |= Q(session__engine__url__startswith=scheme)
        return self.filter(here, session__engine__remote=False)

    def reachable(self) -> InstanceQuerySet:
        """Filter running instances of live sessions: the only ones a route or a login may lead to."""
        return self.filter(state=Instance.State.RUNNING, session__state=Session.State.ACTIVE)

    def stuck(self, now: datetime) -> InstanceQuerySet:
        """Filter instances still provisioning PROVISIONING_TIMEOUT after they were reserved."""
        started_before = now - timedelta(seconds=settings.PROVISIONING_TIMEOUT)
        return self.filter(state=Instance.State.PROVISIONING, created_at__lte=started_before)


class Instance(models.Model):
    class State(models.TextChoices):
        PROVISIONING = "provisioning"
        RUNNING = "running"
        GONE = "gone"

    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="instances")
    name = models.CharField(max_length=100, unique=True, help_text="The Docker container name.")
    hostname = models.CharField(max_length=63)
    ip = models.GenericIPAddressField(null=True, blank=True)
    image = models.CharField(max_length=200)
    state = models.CharField(max_length=20, choices=State.choices, default=State.PROVISIONING)
    created_at = models.DateTimeField(default=timezone.now)
    alias = models.CharField(max_length=63, blank=True, help_text="docker-machine alias.")
    # Write-only: posted by the docker-machine driver, never serialised.
    tls_ca_cert = models.TextField(blank=True)
    tls_server_cert = models.TextField(blank=True)
    tls_server_key = models.TextField(blank=True)

    objects = InstanceQuerySet.as_manager()

    class Meta:
        constraints = [
            # Two concurrent adds pick the same first free nodeN; this makes one of them retry.
            models.UniqueConstraint(
                fields=["session", "hostname"], condition=~Q(state="gone"), name="unique_live_hostname"
            )
        ]

    def __str__(self) -> str:
        return f"{self.hostname} ({self.name})"

    @property
    def proxy_host(self) -> str:
        """Return PWD's routing label: ip<a-b-c-d>-<session id>."""
        return names.proxy_host(self.ip or "", self.session_id)

    @property
    def ssh_command(self) -> str:
        """Return `ssh ip<a-b-c-d>-<sid>@<domain> -p <port>`, through the gateway, or "" before it has an address."""
        if not self.ip:
            return ""
        port = settings.SSH_GATEWAY_PORT
        command = f"ssh {self.proxy_host}@{settings.PLAYGROUND_DOMAIN}"
        return command if port == 22 else f"{command} -p {port}"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "hostname": self.hostname,
            "ip": self.ip or "",
            "image": self.image,
            "state": self.state,
            "session_id": self.session_id,
            "proxy_host": self.proxy_host,
            "ssh_command": self.ssh_command,
            "session_host": self.session.playground.domain,
            "alias": self.alias,
            "tls": bool(self.tls_server_cert),
            "type": "linux",
            "created_at": self.created_at.isoformat(),
        }


class ClientBundle(models.Model):
    """The CA of one instance engine's server certificate, and a client certificate that opens that engine alone.

    The learner's laptop bundle, and the platform's way in (it follows the instance's ports with it); for a
    docker-machine instance, which brought its own client certificate, only the platform's.
    """

    instance = models.OneToOneField(Instance, on_delete=models.CASCADE, related_name="client_bundle")
    ca_cert = models.TextField()
    client_cert = models.TextField()
    # Write-only: served by the bundle download alone, never in any JSON.
    client_key = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        # Created by the router app, where the model lived first.
        db_table = "router_clientbundle"

    def __str__(self) -> str:
        return f"client bundle of {self.instance}"
