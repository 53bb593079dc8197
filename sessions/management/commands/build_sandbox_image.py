"""Build the sandbox image from Debian packages when it is missing or its recipe changed."""

import shutil
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

import engine
from engine import daemon, images
from sessions import rootfs

RECIPE = settings.BASE_DIR / "compose" / "sandbox"


def sandbox_recipe() -> str:
    files = sorted(p for p in RECIPE.iterdir() if p.is_file())
    return rootfs.recipe_hash(rootfs.DEBIAN_SUITE, *files)


class Command(BaseCommand):
    help = "Build the docker-in-docker sandbox image (debootstrap + docker import), unless it is up to date."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--force", action="store_true", help="Rebuild even when the image is up to date.")

    def handle(self, *args: Any, force: bool = False, **options: Any) -> None:
        tag = settings.SANDBOX_IMAGE
        recipe = sandbox_recipe()
        if not daemon.default().ping():
            raise CommandError(f"the Docker engine at {settings.SANDBOX_ENGINE} does not answer")
        if not force and images.image_recipe(daemon.default(), tag) == recipe:
            self.stdout.write(f"{tag} is up to date (recipe {recipe})")
            return
        started = time.monotonic()
        try:
            self._build(tag, recipe)
        except (RuntimeError, engine.EngineError) as e:
            raise CommandError(str(e)) from e
        self.stdout.write(self.style.SUCCESS(f"built {tag} (recipe {recipe}) in {time.monotonic() - started:.0f}s"))

    def _build(self, tag: str, recipe: str) -> None:
        packages = rootfs.read_package_list(RECIPE / "packages.txt")
        with rootfs.build_directory() as root:
            self.stdout.write(f"[1/3] debootstrap {rootfs.DEBIAN_SUITE} with {len(packages)} packages (about a minute)")
            rootfs.debootstrap(root, packages, self.stdout.write)
            self.stdout.write("[2/3] adding the entrypoint, prompt and motd")
            self._install_files(root)
            rootfs.slim(root)
            self.stdout.write("[3/3] importing into the Docker engine")
            changes = [
                'ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/sandbox-entrypoint"]',
                "WORKDIR /root",
                "ENV TERM=xterm-256color LANG=C.UTF-8",
                f"LABEL {daemon.LABEL_RECIPE}={recipe}",
            ]
            rootfs.import_root(root, tag, changes, self.stdout.write)

    def _install_files(self, root: Path) -> None:
        entrypoint = root / "usr/local/bin/sandbox-entrypoint"
        shutil.copy(RECIPE / "entrypoint.sh", entrypoint)
        entrypoint.chmod(0o755)
        shutil.copy(RECIPE / "motd", root / "etc/motd")
        shutil.copy(RECIPE / "bashrc", root / "root/.bashrc")
