"""Run the read-only registry mirror that sandboxes pull from, in the foreground."""

import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError

import engine
from mirror import registry


class Command(BaseCommand):
    help = "Serve the seeded images read-only to sandboxes (Debian's docker-registry), on MIRROR_PORT."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            command = registry.mirror_command()
        except (registry.RegistryError, engine.EngineError) as e:
            raise CommandError(str(e)) from e
        self.stdout.write(f"registry mirror: {' '.join(command)}")
        self.stdout.flush()
        os.execv(command[0], command)
