"""Workshops a trainer runs, and the seats learners take in them with a join code."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from sessions import parsing
from sessions.models import Playground, Session
from sessions.setup import SetupNode
from workshops import lessons

# No 0/O, 1/I/L: a code read aloud or off a projector is typed right the first time.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 6


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def new_token() -> str:
    return secrets.token_urlsafe(32)


def default_start() -> datetime:
    return timezone.now()


def default_end() -> datetime:
    return timezone.now() + timedelta(hours=4)


class WorkshopQuerySet(models.QuerySet["Workshop"]):
    def pooled(self, now: datetime) -> WorkshopQuerySet:
        """Filter workshops with a warm pool that have not ended: the ones whose pools exist."""
        return self.filter(warm_pool__gt=0, ends_at__gt=now)


class Workshop(models.Model):
    title = models.CharField(max_length=100)
    code = models.CharField(max_length=CODE_LENGTH, unique=True, default=new_code, editable=False)
    trainer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="workshops")
    playground = models.ForeignKey(Playground, on_delete=models.PROTECT, related_name="workshops")
    seats = models.PositiveSmallIntegerField(default=30)
    starts_at = models.DateTimeField(default=default_start)
    ends_at = models.DateTimeField(default=default_end)
    image = models.CharField(max_length=200, blank=True, help_text="Empty: the playground's default image.")
    instances = models.PositiveSmallIntegerField(
        default=1, help_text="Nodes each learner gets when there is no setup template."
    )
    session_length = models.DurationField(default=timedelta(hours=4))
    # PWD's /setup body (sessions/setup.py), applied to each learner's session; empty: `instances` plain nodes.
    template = models.TextField(blank=True)
    warm_pool = models.PositiveSmallIntegerField(default=0, help_text="Sessions set up ahead, handed out on join.")
    # Markdown shown beside each learner's terminals, cut into steps (workshops/lessons.py); empty: no lesson.
    lesson = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = WorkshopQuerySet.as_manager()

    class Meta:
        ordering = ["-starts_at"]

    def __str__(self) -> str:
        return f"{self.title} ({self.code})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # Checks are kept by step number: once the lesson is rewritten, those numbers name other steps, so the
        # learners' marks would be wrong ticks beside new steps.
        rewritten = self.pk is not None and Workshop.objects.filter(pk=self.pk).exclude(lesson=self.lesson).exists()
        super().save(*args, **kwargs)
        if rewritten:
            StepCheck.objects.filter(seat__workshop=self).delete()

    def clean(self) -> None:
        try:
            self.steps()
        except lessons.LessonError as e:
            raise ValidationError({"lesson": str(e)}) from e

    def steps(self) -> list[lessons.Step]:
        """Return the lesson's steps; raise LessonError if the lesson breaks a rule of lessons."""
        return lessons.parse(self.lesson).steps

    def nodes(self) -> list[SetupNode]:
        """Return what each learner's session is set up with: the template's nodes, else plain ones."""
        if self.template.strip():
            return parsing.setup_request(self.template.encode())
        return [SetupNode() for _ in range(self.instances)]

    @property
    def pool_key_name(self) -> str:
        return f"workshop-{self.pk}"

    def has_started(self, now: datetime) -> bool:
        return self.starts_at <= now

    def has_ended(self, now: datetime) -> bool:
        return self.ends_at <= now


class Seat(models.Model):
    workshop = models.ForeignKey(Workshop, on_delete=models.CASCADE, related_name="seat_set")
    name = models.CharField(max_length=60)
    # The learner's browser holds it in a cookie: the same browser joining again gets the same seat.
    token = models.CharField(max_length=64, unique=True, default=new_token, editable=False)
    session = models.ForeignKey(Session, on_delete=models.SET_NULL, null=True, blank=True, related_name="seats")
    joined_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["joined_at", "id"]

    def __str__(self) -> str:
        return f"{self.name} in {self.workshop.code}"

    @property
    def last_activity(self) -> datetime:
        """Return when the learner last typed (their session's activity), or came back to the join page."""
        if self.session is None:
            return self.last_seen_at
        return max(self.session.last_activity_at, self.last_seen_at)


class StepCheck(models.Model):
    """The last run of a lesson step's check for a seat: passed or not, and the end of what it printed."""

    seat = models.ForeignKey(Seat, on_delete=models.CASCADE, related_name="step_checks")
    step = models.PositiveSmallIntegerField(help_text="The step's index in the lesson, from 0.")
    passed = models.BooleanField()
    output = models.TextField(blank=True)
    checked_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["seat", "step"]
        constraints = [models.UniqueConstraint(fields=["seat", "step"], name="one_check_per_seat_step")]

    def __str__(self) -> str:
        return f"{self.seat} step {self.step}: {'passed' if self.passed else 'failed'}"
