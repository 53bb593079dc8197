"""Run the direct router until SIGTERM or Ctrl-C."""

import asyncio
import signal
from typing import Any

import uvloop
from django.conf import settings
from django.core.management.base import BaseCommand

from router.server import Router


class Command(BaseCommand):
    help = "Route *.direct.<domain> HTTP by Host and TLS by SNI (unterminated) to the instances they name."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--bind", default=settings.ROUTER_BIND)
        parser.add_argument("--port", type=int, default=settings.ROUTER_PORT)

    def handle(self, *args: Any, bind: str, port: int, **options: Any) -> None:
        uvloop.run(self._serve(bind, port))

    async def _serve(self, bind: str, port: int) -> None:
        router = Router(settings.PLAYGROUND_DOMAIN)
        server = await router.serve(bind, port)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        addresses = ", ".join(f"{s.getsockname()[0]}:{s.getsockname()[1]}" for s in server.sockets)
        self.stdout.write(f"router for *.direct.{settings.PLAYGROUND_DOMAIN} listening on {addresses}")
        self.stdout.flush()
        await stop.wait()
        await router.shut_down(server)
