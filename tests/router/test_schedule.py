"""Celery beat's schedule names the port scan, and the task exists under that name."""

from __future__ import annotations

from django.conf import settings

from playground.celery import app


def test_it_schedules_the_port_scan_as_a_registered_task() -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["announce-instance-ports"]
    app.loader.import_default_modules()
    assert entry["task"] in app.tasks
    assert entry["schedule"] == settings.PORTS_SCAN_INTERVAL
