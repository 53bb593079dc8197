"""Serve one terminado terminal running `docker exec -it <instance> bash`; print the port, then serve forever."""

from __future__ import annotations

import asyncio
import sys

import tornado.httpserver
import tornado.netutil
import tornado.web
from terminado import SingleTermManager, TermSocket


async def main(instance: str) -> None:
    manager = SingleTermManager(shell_command=["docker", "exec", "-it", instance, "bash", "--login"])
    app = tornado.web.Application([(r"/websocket", TermSocket, {"term_manager": manager})])
    sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
    tornado.httpserver.HTTPServer(app).add_sockets(sockets)
    print(sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
