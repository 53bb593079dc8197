"""Run what an ssh session channel asks for (shell, command, sftp) inside the instance, piping stdio both ways."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any

import asyncssh

import engine
from engine import streams
from gateway.access import Target
from sessions.activity import Activity

SFTP_SERVER = "/usr/lib/openssh/sftp-server"
# Past this much input waiting for the process, stop reading from the client until it drains.
_INPUT_HIGH_WATER = 256 * 1024
# What OpenSSH's ssh reports when the far end vanished without an exit status.
_UNKNOWN_EXIT = 255


class _ToChannel(streams.ExecOutput):
    """Pour an exec's output into an ssh channel as it arrives; input the process does not take holds the client."""

    def __init__(self, chan: asyncssh.SSHServerChannel[bytes], activity: Activity, tty: bool) -> None:
        super().__init__(tty)
        self.chan = chan
        self.activity = activity

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        assert self.transport is not None
        self.transport.set_write_buffer_limits(high=_INPUT_HIGH_WATER)

    def output(self, kind: int, data: bytes) -> None:
        self.activity.seen()
        # The client may have gone in the middle of a batch: the rest has nowhere to go.
        with contextlib.suppress(OSError):
            if kind == 2:
                self.chan.write_stderr(data)
            else:
                self.chan.write(data)

    def pause_writing(self) -> None:
        self.chan.pause_reading()

    def resume_writing(self) -> None:
        self.chan.resume_reading()


class ExecSession(asyncssh.SSHServerSession[bytes]):
    """One ssh session channel, served by a docker exec in the instance, with flow control both ways."""

    def __init__(self, target: Target, activity: Activity) -> None:
        self.target = target
        self.activity = activity
        self.command: list[str] = []
        self.chan: asyncssh.SSHServerChannel[bytes] | None = None
        self.stream: streams.ExecStream | None = None
        self.output: _ToChannel | None = None
        self.task: asyncio.Task[None] | None = None
        self.early_input: list[bytes] = []
        self.early_eof = False
        self._tasks: set[asyncio.Task[Any]] = set()

    def connection_made(self, chan: asyncssh.SSHServerChannel[bytes]) -> None:
        self.chan = chan

    def shell_requested(self) -> bool:
        self.command = ["bash", "--login"]
        return True

    def exec_requested(self, command: str) -> bool:
        # OpenSSH runs commands through the user's shell; `scp -t` and docker's `system dial-stdio` arrive here too.
        self.command = ["bash", "-c", command]
        return True

    def subsystem_requested(self, subsystem: str) -> bool:
        # The instance's own sftp-server: files land with the instance's users and paths, as with a real sshd.
        self.command = [SFTP_SERVER]
        return subsystem == "sftp"

    def session_started(self) -> None:
        assert self.chan is not None
        self.activity.seen()
        self.task = asyncio.create_task(self._run(self.chan))

    def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:
        assert self.chan is not None
        self.activity.seen()
        if self.stream is None:
            # Input that arrives while the process is starting waits here; the client waits for the rest.
            self.early_input.append(data)
            self.chan.pause_reading()
            return
        self.stream.write(data)

    def eof_received(self) -> bool:
        self.early_eof = self.stream is None
        if self.stream and not self.stream.tty:
            # As sshd does: EOF ends a command's stdin, but a terminal has no EOF (the engine would hang up the tty).
            with contextlib.suppress(OSError):
                self.stream.write_eof()
        return True  # half-open: the process's output may still be coming

    def terminal_size_changed(self, width: int, height: int, pixwidth: int, pixheight: int) -> None:
        if self.stream and self.stream.tty:
            self._spawn(self.stream.resize(width, height))

    def _spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        # The loop keeps only weak references to tasks: hold them until done, or they may vanish mid-way.
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def pause_writing(self) -> None:
        # The client reads slower than the process writes: leave the rest in the engine until it catches up.
        if self.output and self.output.transport:
            self.output.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.output and self.output.transport:
            self.output.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        # The client went away: hang up on the process, which ends its output.
        if self.stream:
            self.stream.close()

    async def _run(self, chan: asyncssh.SSHServerChannel[bytes]) -> None:
        """Start the process, pipe its output until it ends, then report its exit status."""
        term_type = chan.get_terminal_type()
        tty = term_type is not None and chan.get_subsystem() is None
        env = {"TERM": term_type} if tty and term_type else None
        try:
            self.stream = stream = await streams.open_exec(
                self.target.daemon, self.target.container, self.command, tty=tty, env=env, workdir="/root"
            )
        except engine.EngineError:
            gone = f"{self.target.hostname} is not running any more: its session ended or it was deleted\n"
            chan.write_stderr(gone.encode())
            chan.exit(_UNKNOWN_EXIT)
            return
        self.output = output = _ToChannel(chan, self.activity, tty)
        await stream.pipe_output(output)
        if tty:
            width, height = chan.get_terminal_size()[:2]
            if width and height:
                await stream.resize(width, height)
        for data in self.early_input:
            stream.write(data)
        if self.early_eof:
            self.eof_received()
        chan.resume_reading()
        try:
            await output.ended
        finally:
            stream.close()
        code = await streams.wait_exit_code(stream)
        with contextlib.suppress(OSError):
            chan.exit(_UNKNOWN_EXIT if code is None else code)
