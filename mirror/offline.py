"""Refuse, at once and in words, what a sandbox's engine tries to pull from a registry other than the mirror."""

from __future__ import annotations

import asyncio
import contextlib


def notice(images: list[str]) -> str:
    """Return the refusal a learner reads after `docker pull`: one line, as an HTTP reason phrase must be."""
    return (
        "this playground has no internet access: only images from its mirror can be pulled "
        f"({', '.join(images)}); or build your own with docker build"
    )


async def serve(host: str, port: int, message: str) -> None:
    """Answer every proxy request (the engine's CONNECT to a registry) with 403 and the message, forever."""
    response = f"HTTP/1.1 403 {message}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode()

    async def refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Go's HTTP client shows the reason phrase of a refused CONNECT as the error: that is what learners see.
        with contextlib.suppress(OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10)
            writer.write(response)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(refuse, host, port, limit=16384)
    async with server:
        await server.serve_forever()
