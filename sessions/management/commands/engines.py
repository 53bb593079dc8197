"""List the sandbox engines, add one, drain one, or enable one again."""

from __future__ import annotations

import argparse
import os
import re
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from engine import EngineError, daemon, images
from sessions import engines
from sessions.models import Engine, Playground

UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def memory(text: str) -> int:
    """Parse a size such as 8G, 512M or 1073741824 (bytes) into bytes."""
    found = re.fullmatch(r"\s*(\d+)\s*([KMGT]?)(?:i?B)?\s*", text, re.IGNORECASE)
    if not found or int(found[1]) == 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size such as 8G, 512M or a number of bytes")
    return int(found[1]) * UNITS[found[2].upper()]


class Command(BaseCommand):
    help = "Manage the pool of sandbox engines: list, add NAME URL --memory 8G, drain NAME, enable NAME."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        actions.add_parser("list", help="List the engines, their state and load.")
        add = actions.add_parser("add", help="Add an engine that takes new sessions at once.")
        add.add_argument("name", help="A short unique name (letters, digits, - and _).")
        add.add_argument("url", help="unix:///path/to/docker.sock or tcp://host:port")
        add.add_argument("--memory", type=memory, required=True, help="Memory its sandboxes may take: 8G, 512M.")
        add.add_argument(
            "--remote",
            action="store_true",
            help="It runs on another host though URL is a unix socket here (the socket forwarded over ssh).",
        )
        add.add_argument(
            "--tls",
            default="",
            metavar="DIR",
            help="Reach the tcp:// engine over TLS with the client files in DIR (ca.pem, cert.pem, key.pem), "
            "as compose/engine/start --tls makes them.",
        )
        drain = actions.add_parser("drain", help="Send no new session there; its sessions run to their end.")
        drain.add_argument("name")
        enable = actions.add_parser("enable", help="Take new sessions there again (undoes drain and disable).")
        enable.add_argument("name")
        disable = actions.add_parser("disable", help="Send no new session there (as drain).")
        disable.add_argument("name")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        if action == "list":
            self._list()
        elif action == "add":
            self._add(options["name"], options["url"], options["memory"], options["remote"], options["tls"])
        else:
            self._set(options["name"], action)

    def _list(self) -> None:
        for load in engines.loads(engines.all_engines()):
            engine = load.engine
            where = f"{engine.url} (TLS)" if engine.tls else engine.url
            self.stdout.write(
                f"{engine.name:<16} {engine.state:<9} {where:<40} {load.sessions:>4} sessions "
                f"{load.instances:>4} instances {load.free_bytes // engines.MIB:>7} of "
                f"{engine.memory_bytes // engines.MIB} MiB free, "
                f"{engines.per_instance_bytes(engine) // engines.MIB} MiB per instance"
                + (f"  last error: {engine.last_error}" if engine.last_error else "")
            )

    def _add(self, name: str, url: str, memory_bytes: int, remote: bool, tls: str) -> None:
        if name != "default" and url != settings.SANDBOX_ENGINE:
            # The first engine added beside SANDBOX_ENGINE's joins it: made now, before the new row, which would
            # otherwise be the only engine of the pool (the default one is made only while there is none).
            Engine.default()
        engine = Engine(name=name, url=url, memory_bytes=memory_bytes, remote=remote, tls=tls and os.path.abspath(tls))
        try:
            engine.full_clean()
        except ValidationError as e:
            raise CommandError("; ".join(f"{field}: {' '.join(m)}" for field, m in e.message_dict.items())) from e
        problem = engine.daemon.problem()
        if problem:
            # A certificate refused is no engine to start: its files or its names are to be fixed.
            hint = (
                "check its TLS files and the names its certificate holds"
                if "CERTIFICATE" in problem
                else "start it first"
            )
            raise CommandError(f"the engine at {url} does not answer ({problem}); {hint}")
        try:
            engine.daemon.check_user_namespaces()
        except EngineError as e:
            raise CommandError(str(e)) from e
        wanted = {image for playground in Playground.objects.all() for image in playground.images}
        try:
            for image in sorted(wanted | {settings.SANDBOX_IMAGE}):
                # Sandboxes start from images that exist there: the ones this host built (bin/setup), copied over.
                if images.image_recipe(daemon.default(), image) is not None:
                    copied = images.copy_image(daemon.default(), engine.daemon, image)
                    self.stdout.write(f"copied {image} there" if copied else f"{image} is there already")
        except EngineError as e:
            raise CommandError(str(e)) from e
        engine.save()
        self.stdout.write(
            f"added engine {name} at {url}{' over TLS' if tls else ''} with {memory_bytes // engines.MIB} MiB "
            "for sandboxes"
        )

    def _set(self, name: str, action: str) -> None:
        if not getattr(Engine.objects.filter(name=name), action)():
            known = ", ".join(Engine.objects.values_list("name", flat=True)) or "none"
            raise CommandError(f"there is no engine {name!r} (engines: {known})")
        self.stdout.write(f"engine {name}: {action}ed" if action != "drain" else f"engine {name}: draining")
