"""The engine's async exec stream: what terminals and the ssh gateway are built on."""

import asyncio
import socket
from pathlib import Path

from engine import streams
from engine.daemon import Daemon, default
from sessions.models import Playground
from tests.conftest import Api


async def _run(name: str, cmd: list[str], tty: bool, stdin: bytes = b"") -> tuple[bytes, bytes, int | None]:
    stream = await streams.open_exec(default(), name, cmd, tty=tty)
    if stdin:
        stream.write(stdin)
        await stream.drain()
    if not tty:
        stream.write_eof()
    out, err = b"", b""
    if tty:
        out = await asyncio.wait_for(stream.read(), 10)
    else:
        while True:
            kind, data = await asyncio.wait_for(stream.read_frame(), 10)
            if not data:
                break
            if kind == 1:
                out += data
            else:
                err += data
    stream.close()
    return out, err, await stream.exit_code()


def test_it_separates_stdout_stderr_and_exit_code(live: Playground, api: Api) -> None:
    node = api.add(api.start())
    result = asyncio.run(_run(node["name"], ["sh", "-c", "cat; echo oops >&2; exit 3"], False, b"piped in\n"))
    assert result == (b"piped in\n", b"oops\n", 3)


def test_it_gives_a_tty_that_echoes_input(live: Playground, api: Api) -> None:
    node = api.add(api.start())
    out, _, code = asyncio.run(_run(node["name"], ["sh", "-c", "read x; echo got-$x"], True, b"abc\r"))
    assert b"got-abc" in out
    assert code == 0


class _Collected(streams.ExecOutput):
    def __init__(self, tty: bool) -> None:
        super().__init__(tty)
        self.streams = {1: bytearray(), 2: bytearray()}

    def output(self, kind: int, data: bytes) -> None:
        self.streams[kind] += data


async def _pipe(name: str, cmd: list[str], settle: float = 0.0) -> tuple[bytes, bytes]:
    stream = await streams.open_exec(default(), name, cmd, tty=False)
    stream.write_eof()
    await asyncio.sleep(settle)  # lets the process finish before the pipe, when the test wants that
    collected = _Collected(tty=False)
    await stream.pipe_output(collected)
    await asyncio.wait_for(collected.ended, 10)
    stream.close()
    return bytes(collected.streams[1]), bytes(collected.streams[2])


def test_it_pipes_megabytes_of_output_in_order_with_stderr_apart(live: Playground, api: Api) -> None:
    node = api.add(api.start())
    out, err = asyncio.run(_pipe(node["name"], ["sh", "-c", "seq 1 400000; echo oops >&2; seq 5 7"]))
    assert out == "".join(f"{i}\n" for i in [*range(1, 400001), 5, 6, 7]).encode()
    assert err == b"oops\n"


def test_it_pipes_output_that_ended_before_the_pipe(live: Playground, api: Api) -> None:
    node = api.add(api.start())
    assert asyncio.run(_pipe(node["name"], ["echo", "early"], settle=1.0)) == (b"early\n", b"")


def test_an_engine_that_never_answers_does_not_hold_up_the_event_loop(tmp_path: Path) -> None:
    # It takes the connection and says nothing: the first call a process makes to it asks for its API version.
    hung = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    hung.bind(str(tmp_path / "hung.sock"))
    hung.listen(8)

    async def main() -> bool:
        opening = asyncio.create_task(streams.open_exec(Daemon(f"unix://{tmp_path}/hung.sock"), "node", ["true"]))
        await asyncio.sleep(0)  # the opening runs up to its first wait
        await asyncio.sleep(0)
        waiting = not opening.done()
        opening.cancel()
        return waiting

    try:
        assert asyncio.run(main())
    finally:
        hung.close()
