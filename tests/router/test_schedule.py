"""Celery beat schedules the port scan, and it runs on a queue of its own, apart from expiry."""

from __future__ import annotations

from django.conf import settings

from playground.celery import app
from tests.processes import procfile_command


def test_it_schedules_the_port_scan_as_a_registered_task() -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["announce-instance-ports"]
    app.loader.import_default_modules()
    assert entry["task"] in app.tasks
    assert entry["schedule"] == settings.PORTS_SCAN_INTERVAL


def test_it_sends_the_port_scan_to_a_queue_the_expiry_worker_does_not_read() -> None:
    app.loader.import_default_modules()
    assert app.amqp.router.route({}, "router.tasks.announce_ports")["queue"].name == "ports"
    assert app.amqp.router.route({}, "sessions.tasks.sweep")["queue"].name == app.conf.task_default_queue
    assert "--queues=ports" in procfile_command("ports")
    assert "--queues" not in procfile_command("worker")
