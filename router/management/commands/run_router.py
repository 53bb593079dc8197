"""Run the direct router until SIGTERM or Ctrl-C, in ROUTER_PROCESSES processes sharing its port."""

import asyncio
import signal
import socket
from typing import Any

import uvloop
from django.conf import settings
from django.core.management.base import BaseCommand

from router import workers
from router.server import Router


class Command(BaseCommand):
    help = "Route *.direct.<domain> HTTP by Host and TLS by SNI (unterminated) to the instances they name."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--bind", default=settings.ROUTER_BIND)
        parser.add_argument("--port", type=int, default=settings.ROUTER_PORT)
        parser.add_argument("--processes", type=int, default=settings.ROUTER_PROCESSES)

    def handle(self, *args: Any, bind: str, port: int, processes: int, **options: Any) -> None:
        sockets = workers.listening_sockets(bind, port, max(processes, 1))
        host, port = sockets[0].getsockname()[:2]
        self.stdout.write(
            f"router for *.direct.{settings.PLAYGROUND_DOMAIN} listening on {host}:{port} "
            f"in {len(sockets)} process{'es' if len(sockets) > 1 else ''}"
        )
        self.stdout.flush()
        if len(sockets) == 1:
            self._run(sockets[0])
        else:
            workers.supervise(sockets, self._run)

    def _run(self, sock: socket.socket) -> None:
        uvloop.run(self._serve(sock))

    async def _serve(self, sock: socket.socket) -> None:
        router = Router(settings.PLAYGROUND_DOMAIN)
        server = await router.serve(sock)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
        await router.shut_down(server)
