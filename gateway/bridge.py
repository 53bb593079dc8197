"""Run what an ssh session channel asks for (shell, command, sftp) inside the instance, piping stdio both ways."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any

import asyncssh

from gateway.access import Target
from gateway.activity import Activity
from sessions import engine

SFTP_SERVER = "/usr/lib/openssh/sftp-server"
_CHUNK = 65536
# Past this much input waiting for the process, stop reading from the client until it drains.
_INPUT_HIGH_WATER = 256 * 1024
# What OpenSSH's ssh reports when the far end vanished without an exit status.
_UNKNOWN_EXIT = 255


class ExecSession(asyncssh.SSHServerSession[bytes]):
    """One ssh session channel, served by a docker exec in the instance, with flow control both ways."""

    def __init__(self, target: Target, activity: Activity) -> None:
        self.target = target
        self.activity = activity
        self.command: list[str] = []
        self.chan: asyncssh.SSHServerChannel[bytes] | None = None
        self.stream: engine.ExecStream | None = None
        self.task: asyncio.Task[None] | None = None
        self.can_write = asyncio.Event()
        self.can_write.set()
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
        self.stream.writer.write(data)
        if self.stream.writer.transport.get_write_buffer_size() > _INPUT_HIGH_WATER:
            self.chan.pause_reading()
            self._spawn(self._resume_reading_when_drained(self.stream, self.chan))

    async def _resume_reading_when_drained(
        self, stream: engine.ExecStream, chan: asyncssh.SSHServerChannel[bytes]
    ) -> None:
        with contextlib.suppress(OSError):
            await stream.writer.drain()
            chan.resume_reading()

    def eof_received(self) -> bool:
        self.early_eof = self.stream is None
        if self.stream and not self.stream.tty:
            # As sshd does: EOF ends a command's stdin, but a terminal has no EOF (the engine would hang up the tty).
            with contextlib.suppress(OSError):
                self.stream.writer.write_eof()
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
        self.can_write.clear()

    def resume_writing(self) -> None:
        self.can_write.set()

    def connection_lost(self, exc: Exception | None) -> None:
        # The client went away: hang up on the process, which ends the output copy.
        if self.stream:
            self.stream.close()
        self.can_write.set()

    async def _run(self, chan: asyncssh.SSHServerChannel[bytes]) -> None:
        """Start the process, copy its output until it ends, then report its exit status."""
        term_type = chan.get_terminal_type()
        tty = term_type is not None and chan.get_subsystem() is None
        env = {"TERM": term_type} if tty and term_type else None
        try:
            self.stream = stream = await engine.open_exec(
                self.target.container, self.command, tty=tty, env=env, workdir="/root"
            )
        except engine.EngineError:
            gone = f"{self.target.hostname} is not running any more: its session ended or it was deleted\n"
            chan.write_stderr(gone.encode())
            chan.exit(_UNKNOWN_EXIT)
            return
        if tty:
            width, height = chan.get_terminal_size()[:2]
            if width and height:
                await stream.resize(width, height)
        stream.writer.writelines(self.early_input)
        if self.early_eof:
            self.eof_received()
        chan.resume_reading()
        try:
            await (self._copy_tty(stream, chan) if tty else self._copy_frames(stream, chan))
        except OSError:
            pass  # the client or the engine hung up; what is left is the exit status, if anyone listens
        finally:
            stream.close()
        code = await engine.wait_exit_code(stream)
        with contextlib.suppress(OSError):
            chan.exit(_UNKNOWN_EXIT if code is None else code)

    async def _copy_tty(self, stream: engine.ExecStream, chan: asyncssh.SSHServerChannel[bytes]) -> None:
        while data := await stream.reader.read(_CHUNK):
            self.activity.seen()
            if not self.can_write.is_set():
                await self.can_write.wait()
            chan.write(data)

    async def _copy_frames(self, stream: engine.ExecStream, chan: asyncssh.SSHServerChannel[bytes]) -> None:
        """Copy a non-tty exec's output, keeping stdout and stderr apart as ssh does."""
        frames = engine.FrameBatches(stream)
        while batch := await frames.read():
            self.activity.seen()
            for kind, data in batch:
                if not self.can_write.is_set():
                    await self.can_write.wait()
                if kind == 2:
                    chan.write_stderr(data)
                else:
                    chan.write(data)
