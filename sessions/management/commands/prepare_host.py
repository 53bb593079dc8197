"""Prepare the host for sandboxes, before any process of the platform starts: the mirror's address, the firewall."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError

import engine
from engine import daemon, mirror
from sessions import firewall


class Command(BaseCommand):
    help = "Give the host the mirror's address and install the sandboxes' packet filter rules (again)."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            daemon.default().check_user_namespaces()
            # Here, once, rather than by the mirror's and the offline notice's processes at the same moment.
            mirror.ensure_address(daemon.default())
            firewall.apply(mirror.mirror_host())
        except (engine.EngineError, firewall.FirewallError) as e:
            raise CommandError(str(e)) from e
        self.stdout.write(f"sandbox firewall in place; the mirror listens on {mirror.mirror_host()}")
