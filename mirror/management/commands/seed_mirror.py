"""Build the mirror's images from Debian packages and push them into its storage, skipping those up to date."""

import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

import engine
from engine import daemon
from mirror import images, registry


class Command(BaseCommand):
    help = "Seed the registry mirror with hello-world, busybox, debian, nginx and redis built from Debian packages."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--force", action="store_true", help="Rebuild even the images that are up to date.")
        parser.add_argument(
            "names", nargs="*", metavar="NAME", help=f"Only these images (of {', '.join(images.names())})."
        )

    def handle(self, *args: Any, force: bool = False, names: list[str] | None = None, **options: Any) -> None:
        unknown = set(names or []) - set(images.names())
        if unknown:
            raise CommandError(f"no such image: {', '.join(sorted(unknown))} (there are {', '.join(images.names())})")
        wanted = [image for image in images.IMAGES if not names or image.name in names]
        if not daemon.default().ping():
            raise CommandError(f"the Docker engine at {settings.SANDBOX_ENGINE} does not answer")
        started = time.monotonic()
        try:
            # A writable registry on loopback for the seed's duration only: sandboxes reach nothing writable.
            with registry.running("127.0.0.1", read_only=False) as addr:
                stale = [image for image in wanted if force or not images.is_current(addr, image)]
                if not stale:
                    self.stdout.write(f"the mirror is up to date ({', '.join(dict.fromkeys(i.name for i in wanted))})")
                    return
                images.build_and_push(addr, stale, self.stdout.write)
            self.stdout.write("removing layers that no tag uses any more")
            registry.collect_garbage()
        except (RuntimeError, OSError, registry.RegistryError, engine.EngineError) as e:
            raise CommandError(str(e)) from e
        built = ", ".join(image.describe() for image in stale)
        self.stdout.write(self.style.SUCCESS(f"seeded {built} in {time.monotonic() - started:.0f}s"))
