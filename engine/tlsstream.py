"""TLS to an engine on another host, with an end to what is sent: the one thing asyncio's own TLS cannot do.

An exec's stdin ends when the engine reads the end of it: an upload, the editor's save, a stack's file, `ssh node
cat < file` all depend on that. asyncio's TLS transport cannot half-close (its write_eof raises
NotImplementedError), so TLS runs here over a plain TCP connection, and the end of what is sent is the end of
the TCP connection's sending half, as Docker's own client does it: Go's TLS server reads a TCP end at a record
boundary as the end of the stream, and goes on writing the output.

The engine is the platform's own, reached with its client certificate: what it sends is trusted as the SDK's
answers are (the learner's engine inside an instance is another matter: see inner).
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any, cast

from engine import give

READ_SIZE = 64 * 1024
# An engine that takes the connection but never finishes TLS's handshake must not hold a terminal's opening.
HANDSHAKE_TIMEOUT = 10.0


class TlsTransport(asyncio.Transport):
    """What a protocol above sees: plain bytes in and out; write_eof ends the TCP connection's sending half."""

    def __init__(self, tls: _Tls) -> None:
        super().__init__()
        self._tls = tls

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._tls.send(bytes(data))

    def writelines(self, list_of_data: Any) -> None:
        self._tls.send(b"".join(list_of_data))

    def write_eof(self) -> None:
        self._tls.raw.write_eof()

    def can_write_eof(self) -> bool:
        return True

    def close(self) -> None:
        self._tls.raw.close()

    def abort(self) -> None:
        self._tls.raw.abort()

    def is_closing(self) -> bool:
        return self._tls.raw.is_closing()

    def pause_reading(self) -> None:
        self._tls.pause()

    def resume_reading(self) -> None:
        self._tls.resume()

    def is_reading(self) -> bool:
        return not self._tls.paused

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        # As a TCP transport does, an end that arrived is reported again, now to protocol, once reading resumes
        # (ExecStream.pipe_output relies on it for output that ended before the pipe).
        self._tls.app = protocol
        self._tls.ended = False

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._tls.app

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "ssl_object":
            return self._tls.tls
        return self._tls.raw.get_extra_info(name, default)

    def get_write_buffer_size(self) -> int:
        return self._tls.raw.get_write_buffer_size()

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._tls.raw.get_write_buffer_limits()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._tls.raw.set_write_buffer_limits(high, low)


class _Tls(asyncio.Protocol):
    """The TCP connection's protocol: TLS in memory between it and the protocol above (app)."""

    def __init__(self, context: ssl.SSLContext, hostname: str) -> None:
        self._incoming, self._outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = context.wrap_bio(self._incoming, self._outgoing, server_hostname=hostname)
        self.raw = cast(asyncio.Transport, None)
        self.app: asyncio.BaseProtocol = asyncio.Protocol()
        self.transport = TlsTransport(self)
        self.handshaken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.paused = False
        self.lost = False  # app was told the connection's loss
        self.ended = False  # the server's end was given to app
        self._error: Exception | None = None  # why the connection was aborted, for app's connection_lost

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.raw = cast(asyncio.Transport, transport)
        self._handshake()

    def send(self, data: bytes) -> None:
        if self.raw.is_closing():
            return  # as a closed TCP transport does: the loss is reported through connection_lost
        try:
            self.tls.write(data)
        except ssl.SSLError as e:  # the engine's end was not TLS's (no close_notify): the connection is broken
            self._abort(e)
            return
        self._flush()

    def pause(self) -> None:
        # The TCP connection stops too: what app does not read must wait in the engine, not in this process.
        self.paused = True
        self.raw.pause_reading()

    def resume(self) -> None:
        if self.paused:
            self.paused = False
            self.raw.resume_reading()
            asyncio.get_running_loop().call_soon(self._deliver)

    def data_received(self, data: bytes) -> None:
        self._incoming.write(data)
        if not self.handshaken.done():
            self._handshake()
        self._deliver()

    def eof_received(self) -> bool:
        self._incoming.write_eof()
        if not self.handshaken.done():
            self._handshake()  # an engine that hangs up mid-handshake fails it now, not at HANDSHAKE_TIMEOUT
        self._deliver()
        return True  # app decides, once it has read all: see _deliver

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.handshaken.done():
            self.handshaken.set_exception(ConnectionError(f"the engine hung up during TLS's handshake: {exc}"))
        self.lost = True
        self.app.connection_lost(exc or self._error)

    def pause_writing(self) -> None:
        self.app.pause_writing()

    def resume_writing(self) -> None:
        self.app.resume_writing()

    def _flush(self) -> None:
        if self._outgoing.pending and not self.raw.is_closing():
            self.raw.write(self._outgoing.read())

    def _handshake(self) -> None:
        try:
            self.tls.do_handshake()
        except ssl.SSLWantReadError:
            self._flush()
            return
        except ssl.SSLError as e:
            self.raw.abort()
            if not self.handshaken.done():
                self.handshaken.set_exception(e)
            return
        self._flush()
        self.handshaken.set_result(None)

    def _deliver(self) -> None:
        """Give app what TLS makes of what arrived, while app reads; then the end, if that arrived too."""
        if not self.handshaken.done() or self.ended or self.lost:
            return  # (after the loss, a resume_reading() must not give app anything more)
        while not self.paused:
            try:
                data = self.tls.read(READ_SIZE)
            except ssl.SSLWantReadError:
                break
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                data = b""
            except ssl.SSLError as e:  # a record TLS refuses: what follows cannot be trusted, nor is it an end
                self._abort(e)
                return
            if not data:
                self._end()
                break
            give(self.app, data)
        self._flush()  # what reading made TLS answer (a key update)

    def _abort(self, error: Exception) -> None:
        self._error = error
        self.raw.abort()

    def _end(self) -> None:
        self.ended = True
        if not cast(asyncio.Protocol, self.app).eof_received():
            self.raw.close()


async def open_connection(
    context: ssl.SSLContext, host: str, port: int
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Open a TLS stream to host:port whose writer's write_eof() ends what is sent, not the connection.

    Raise OSError (TimeoutError past HANDSHAKE_TIMEOUT) or ssl.SSLError when it cannot be opened.
    """
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(HANDSHAKE_TIMEOUT):
        _, tls = await loop.create_connection(lambda: _Tls(context, host), host, port)
        try:
            await tls.handshaken
        except BaseException:
            tls.raw.abort()
            raise
    reader = asyncio.StreamReader(loop=loop)
    protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
    tls.app = protocol
    protocol.connection_made(tls.transport)
    return reader, asyncio.StreamWriter(tls.transport, protocol, reader, loop)
