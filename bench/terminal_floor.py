"""Reference servers for the terminal echo benchmark: how fast a Python server can be without Daphne, and what
Daphne itself adds to each message. Started by bench/terminal_io.py, each on a listening socket it passes:

  python bench/terminal_floor.py bridge FD INSTANCE   a bare asyncio WebSocket server (websockets' frame parser,
                                                      no tasks per message) between PWD's protocol and the tty
  python bench/terminal_floor.py echo FD              the same server answering each keystroke itself
  daphne --fd FD bench.terminal_floor:echo_app        Daphne with an ASGI app that answers each keystroke itself
"""

from __future__ import annotations

import asyncio
import codecs
import json
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Request, Response
from websockets.server import ServerProtocol

if TYPE_CHECKING:
    from engine.streams import TtyStream


def _out(args: list[Any]) -> str:
    return json.dumps({"name": "instance terminal out", "args": args})


async def echo_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A trivial ASGI WebSocket app: every "instance terminal in" comes straight back as "instance terminal out"."""
    if scope["type"] != "websocket":
        return
    while True:
        message = await receive()
        if message["type"] == "websocket.connect":
            await send({"type": "websocket.accept"})
        elif message["type"] == "websocket.receive":
            event = json.loads(message["text"])
            if event["name"] == "instance terminal in":
                await send({"type": "websocket.send", "text": _out(event["args"])})
        else:
            return


class SansIoWebSocket(asyncio.Protocol):
    """A `websockets` Sans-I/O protocol on an asyncio transport: each event is handled in the socket's callback,
    with no task or lock per message. Subclasses set `protocol` and implement event()."""

    protocol: ClientProtocol | ServerProtocol

    def event(self, event: Request | Response | Frame) -> None:
        raise NotImplementedError

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.protocol.receive_data(data)
        for event in self.protocol.events_received():
            self.event(event)
        self.flush()

    def send_text(self, text: str) -> None:
        self.protocol.send_text(text.encode())
        self.flush()

    def flush(self) -> None:
        for data in self.protocol.data_to_send():
            if data:
                self.transport.write(data)
            else:  # the protocol is done with the connection
                self.transport.close()


class Bare(SansIoWebSocket):
    """One WebSocket of the bare server: act on each keystroke at once."""

    def __init__(self, instance: str | None) -> None:
        self.instance = instance
        self.protocol = ServerProtocol()
        self.tty: TtyStream | None = None
        self.pending: list[bytes] = []
        self.bridging: asyncio.Task[None] | None = None

    def event(self, event: Request | Response | Frame) -> None:
        if isinstance(event, Request):
            assert isinstance(self.protocol, ServerProtocol)
            self.protocol.send_response(self.protocol.accept(event))
            if self.instance is not None and self.protocol.handshake_exc is None:
                self.bridging = asyncio.create_task(self.bridge(self.instance))
        elif isinstance(event, Frame) and event.opcode is Opcode.TEXT:
            self.received(json.loads(bytes(event.data)))

    def received(self, event: dict[str, Any]) -> None:
        if event["name"] != "instance terminal in":
            return
        if self.instance is None:
            self.send_text(_out(event["args"]))
        elif self.tty is None:
            self.pending.append(event["args"][1].encode())
        else:
            self.tty.write(event["args"][1].encode())

    def connection_lost(self, exc: Exception | None) -> None:
        if self.bridging is not None:
            self.bridging.cancel()

    async def bridge(self, instance: str) -> None:
        from engine import streams
        from engine.daemon import default

        stream = await streams.open_tty(default(), instance)
        try:
            self.tty = stream
            for data in self.pending:
                self.tty.write(data)
            decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
            while data := await stream.read(32 * 1024):
                if text := decoder.decode(data):
                    self.send_text(_out([instance, text]))
        finally:
            stream.close()


async def serve(fd: int, instance: str | None) -> None:
    server = await asyncio.get_running_loop().create_server(lambda: Bare(instance), sock=socket.socket(fileno=fd))
    await server.serve_forever()


def main() -> None:
    if sys.argv[1:] in (["-h"], ["--help"]):
        print(__doc__)
        return
    if len(sys.argv) < 3 or sys.argv[1] not in ("bridge", "echo") or (sys.argv[1] == "bridge") != (len(sys.argv) == 4):
        sys.exit(__doc__)
    mode, fd = sys.argv[1], int(sys.argv[2])
    instance = sys.argv[3] if mode == "bridge" else None
    if instance is not None:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as bench/terminal_floor.py
        from bench.start import start_django

        start_django(own_deployment=False)  # the instance is its parent's, under its parent's label
    asyncio.run(serve(fd, instance))


if __name__ == "__main__":
    main()
