"""Refuse sandboxes' pulls from registries other than the mirror, at once and with a clear message."""

import asyncio
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

import engine
from engine import daemon, mirror
from mirror import images, offline


class Command(BaseCommand):
    help = "Answer sandboxes' engines when they fall back to Docker Hub offline (MIRROR_OFFLINE_PORT)."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            mirror.ensure_address(daemon.default())
        except engine.EngineError as e:
            raise CommandError(str(e)) from e
        host, port = mirror.mirror_host(), settings.MIRROR_OFFLINE_PORT
        self.stdout.write(f"offline notice on {host}:{port}")
        self.stdout.flush()
        asyncio.run(offline.serve(host, port, offline.notice(images.names())))
