"""Periodic work of the router app, run by Celery beat."""

from celery import shared_task

from router import ports


@shared_task(ignore_result=True)
def announce_ports() -> int:
    """Tell every session's viewers which ports their instances publish."""
    return ports.announce_ports()
