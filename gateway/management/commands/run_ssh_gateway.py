"""Run the SSH gateway until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from gateway import server


class Command(BaseCommand):
    help = "Run the SSH gateway: learners ssh into their instances through it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--bind", default=settings.SSH_GATEWAY_BIND)
        parser.add_argument("--port", type=int, default=settings.SSH_GATEWAY_PORT, help="0 picks a free port")

    def handle(self, *args: Any, bind: str, port: int, **options: Any) -> None:
        # asyncssh logs several lines per connection and channel at INFO; the gateway logs who enters what.
        logging.getLogger("asyncssh").setLevel(logging.WARNING)
        asyncio.run(self._serve(bind, port))

    async def _serve(self, bind: str, port: int) -> None:
        acceptor = await server.start(bind, port)
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
        # Tests and supervisors read the bound port from this line.
        self.stdout.write(f"ssh gateway listening on {bind}:{acceptor.get_port()}")
        self.stdout.flush()
        await stop.wait()
        acceptor.close()
        await acceptor.wait_closed()
