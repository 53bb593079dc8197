"""Files inside an instance: where its shell stands, a stream written into a file, a file read, a folder listed.

Everything runs inside the instance as its root, through the engine's exec (never the engine's archive API, which
extracts as the host's root), with paths passed as arguments, never spliced into a script. What the instance
answers is untrusted: it only decides where in its own box a file lands, and is bounded and checked here.
"""

from __future__ import annotations

import asyncio
import contextlib
import posixpath
import secrets
from typing import Any

from django.conf import settings

from engine import ENGINE_ERRORS, EngineError, ExecCutShort
from engine.daemon import Daemon, run_blocking
from engine.execs import exec_run, stop_exec
from engine.streams import ExecStream, open_exec, wait_exit_code
from sessions.lifecycle import BadInput, SandboxError

PATH_LIMIT = 4096
NAME_LIMIT = 255
# How long the short commands below may take, and what they may print besides a file's bytes.
QUICK = 10.0
MESSAGE_LIMIT = 8192
# How long a writer whose input was closed may take to end before it is killed: a `cat` ends at once.
WRITER_GRACE = 1.0

# The terminal is the tty of the sandbox's PID 1: its foreground process group (field 8 of /proc/1/stat, the 6th
# after the command's name) is the shell, or what the shell runs now, which stands where the learner does.
SHELL_CWD = 'set -- $(sed "s/^.*) //" /proc/1/stat); readlink "/proc/$6/cwd" || readlink /proc/1/cwd'
WRITE = 'mkdir -p -- "$(dirname -- "$1")" && cat > "$1"'
READ = '[ -e "$1" ] || exit 3; [ -f "$1" ] || exit 4; exec head -c "$2" -- "$1"'
LIST = 'cd -- "$1" || exit 3; find . -mindepth 1 -maxdepth "$2" \\( -type d -printf "d%P\\0" -o -printf "f%P\\0" \\)'
# Only what find lists on stdout: its complaints (a folder it may not read) are no entries.
LIST += ' 2>/dev/null | head -z -n "$3" | head -c "$4"'
# What a listing may print: entries past it are left out.
LIST_BYTES = 1024 * 1024


class NoSuchFile(SandboxError):
    status = 404
    code = "no_such_file"


class FileTrouble(SandboxError):
    status = 422
    code = "file_error"


class FileTooLarge(SandboxError):
    status = 413
    code = "file_too_large"


class BinaryFile(SandboxError):
    status = 415
    code = "binary_file"


def checked_path(path: str) -> str:
    """Return a path from the client, or raise BadInput."""
    if "\0" in path or len(path) > PATH_LIMIT:
        raise BadInput(f"a path has no NUL character and at most {PATH_LIMIT} characters")
    return path


def checked_name(name: str) -> str:
    """Return a file name from the client (no folder), or raise BadInput."""
    if name in ("", ".", "..") or "/" in name or "\0" in name or len(name.encode()) > NAME_LIMIT:
        raise BadInput(f"{name[:100]!r} is not a file name")
    return name


def shell_cwd(daemon: Daemon, name: str) -> str:
    """Return the folder the instance's terminal shell stands in; /root when the instance will not say."""
    try:
        code, output = exec_run(daemon, name, ["sh", "-c", SHELL_CWD], timeout=QUICK, limit=MESSAGE_LIMIT)
    except EngineError:
        return "/root"
    cwd = output.decode(errors="replace").strip()
    if code != 0 or not cwd.startswith("/") or "\n" in cwd or "\0" in cwd or len(cwd) > PATH_LIMIT:
        return "/root"
    return cwd


def resolve(daemon: Daemon, name: str, path: str) -> str:
    """Return path made absolute: a relative one starts at the terminal shell's folder, as PWD's did."""
    path = checked_path(path)
    if not path.startswith("/"):
        path = posixpath.join(shell_cwd(daemon, name), path)
    return posixpath.normpath(path)


class FileWriter:
    """One file written inside an instance from a stream, under a temporary name, then put in place.

        async with FileWriter(daemon, name, dest) as writer:
            await writer.write(data)  # as often as needed
            await writer.finish()     # or close() now and place() later, to put several files in place at once

    Leaving the block before the file is in place removes what was written.
    """

    def __init__(self, daemon: Daemon, name: str, dest: str) -> None:
        self.daemon, self.name, self.dest = daemon, name, dest
        folder, base = posixpath.split(dest)
        # A name of at most 255 bytes leaves room for the prefix and suffix.
        short = base.encode()[:200].decode(errors="ignore")
        self.temp = posixpath.join(folder, f".{short}.upload-{secrets.token_hex(4)}")
        self.written = 0
        self.placed = False
        self.stream: ExecStream | None = None

    async def __aenter__(self) -> FileWriter:
        try:
            self.stream = await open_exec(self.daemon, self.name, ["sh", "-c", WRITE, "sh", self.temp], tty=False)
        except EngineError as e:
            raise FileTrouble(f"could not write {self.dest}: {e}") from e
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if not self.placed:
            await self.discard()

    async def write(self, data: bytes) -> None:
        assert self.stream is not None
        try:
            self.stream.write(data)
            async with asyncio.timeout(settings.UPLOAD_STALL_TIMEOUT):
                await self.stream.drain()
        except TimeoutError:
            # A learner's `cat` that never reads would otherwise hold the upload (and a slot) to UPLOAD_TIMEOUT.
            raise FileTrouble(
                f"the instance took none of {self.dest} for {settings.UPLOAD_STALL_TIMEOUT:g} s; is its cat replaced?"
            ) from None
        except OSError:
            # The command ended early (a folder that cannot be made, a full disk): it said why.
            raise FileTrouble(f"could not write {self.dest}: {await self._message()}") from None
        self.written += len(data)

    async def finish(self) -> None:
        """End the file and put it in place; raise FileTrouble if that fails."""
        await self.close()
        await self.place()

    async def close(self) -> None:
        """End the file under its temporary name; raise FileTrouble if the instance did not write it whole."""
        assert self.stream is not None
        with contextlib.suppress(OSError):
            self.stream.write_eof()
        message = await self._message()
        code = await wait_exit_code(self.stream)
        self.stream.close()
        if code != 0:
            raise FileTrouble(f"could not write {self.dest}: {message or f'exit code {code}'}")

    async def place(self) -> None:
        # -T: a folder at dest is an error, not a place to move the file into.
        await self._run(["mv", "-f", "-T", "--", self.temp, self.dest], f"could not put {self.dest} in place")
        self.placed = True

    async def discard(self) -> None:
        """Remove what was written so far; quietly, as it runs when something else failed already."""
        if self.stream is not None:
            self.stream.close()
            # Its `cat` may not have made the file yet: remove it only once the writer has ended. One that does not
            # end (a learner's `cat` that never reads) is killed, where this host sees the engine's processes.
            if await wait_exit_code(self.stream, WRITER_GRACE) is None:
                with contextlib.suppress(*ENGINE_ERRORS):
                    await run_blocking(stop_exec, self.daemon, self.stream.exec_id)
                await wait_exit_code(self.stream, QUICK)
        with contextlib.suppress(SandboxError):
            await self._run(["rm", "-f", "--", self.temp], "")

    async def _message(self) -> str:
        """Return what the command printed (its first MESSAGE_LIMIT bytes), waiting at most QUICK seconds."""
        assert self.stream is not None
        printed = b""
        try:
            async with asyncio.timeout(QUICK):
                while len(printed) < MESSAGE_LIMIT:
                    _kind, data = await self.stream.read_frame()
                    if not data:
                        break
                    printed += data
        except (TimeoutError, OSError):
            pass
        return printed[:MESSAGE_LIMIT].decode(errors="replace").strip()

    async def _run(self, cmd: list[str], failure: str) -> None:
        try:
            code, output = await run_blocking(exec_run, self.daemon, self.name, cmd, QUICK, MESSAGE_LIMIT)
        except (EngineError, *ENGINE_ERRORS) as e:
            raise FileTrouble(f"{failure}: {e}") from e
        if code != 0:
            raise FileTrouble(f"{failure}: {output.decode(errors='replace').strip()}")


async def write_bytes(daemon: Daemon, name: str, dest: str, data: bytes) -> None:
    """Write a whole file inside the instance, replacing it."""
    try:
        async with asyncio.timeout(3 * QUICK), FileWriter(daemon, name, dest) as writer:
            await writer.write(data)
            await writer.finish()
    except TimeoutError:
        raise FileTrouble(f"the instance did not take {dest} within {3 * QUICK:g} s") from None


def read_text(daemon: Daemon, name: str, path: str, limit: int) -> bytes:
    """Return a text file's bytes; raise NoSuchFile, FileTooLarge past limit, BinaryFile, or FileTrouble."""
    try:
        code, data = exec_run(
            daemon, name, ["sh", "-c", READ, "sh", path, str(limit + 1)], timeout=QUICK, limit=limit + 1
        )
    except ExecCutShort as e:
        if e.printed_too_much:
            raise FileTooLarge(f"{path} is larger than the editor opens ({limit} bytes)") from None
        raise FileTrouble(f"the instance did not read {path} within {QUICK:g} s") from None
    except EngineError as e:
        raise FileTrouble(f"could not read {path}: {e}") from e
    if code == 3:
        raise NoSuchFile(f"there is no {path}")
    if code == 4:
        raise FileTrouble(f"{path} is not a regular file")
    if code != 0:
        raise FileTrouble(f"could not read {path}: {data[:MESSAGE_LIMIT].decode(errors='replace').strip()}")
    if len(data) > limit:
        raise FileTooLarge(f"{path} is larger than the editor opens ({limit} bytes)")
    try:
        if b"\0" in data:
            raise UnicodeDecodeError("utf-8", data, 0, 1, "NUL")
        data.decode()
    except UnicodeDecodeError:
        raise BinaryFile(f"{path} is a binary file (not UTF-8 text); the editor opens only text") from None
    return data


def tree(daemon: Daemon, name: str, root: str, depth: int, entries: int) -> list[dict[str, Any]]:
    """List a folder as `tree -J` does (PWD's fstree), at most depth levels and entries entries."""
    cmd = ["sh", "-c", LIST, "sh", root, str(depth), str(entries + 1), str(LIST_BYTES)]
    try:
        code, output = exec_run(daemon, name, cmd, timeout=QUICK, limit=LIST_BYTES + MESSAGE_LIMIT)
    except ExecCutShort as e:
        raise FileTrouble(f"the instance did not list {root}: {e}") from None
    except EngineError as e:
        raise FileTrouble(f"could not list {root}: {e}") from e
    if code == 3:
        raise NoSuchFile(f"there is no folder {root}")
    found = [item for item in output.split(b"\0") if item][: entries + 1]
    truncated = len(found) > entries or len(output) >= LIST_BYTES
    if len(output) >= LIST_BYTES and found:
        found.pop()  # cut short
    top: dict[str, Any] = {"type": "directory", "name": root, "contents": []}
    folders: dict[str, dict[str, Any]] = {"": top}
    counts = {"directory": 0, "file": 0}
    for item in sorted(found[:entries]):
        kind, rel = item[:1], item[1:].decode(errors="replace")
        parts = rel.split("/")
        if kind not in (b"d", b"f") or "" in parts or len(parts) > depth:
            continue  # not what find prints: the instance's own find, or something else
        parent = _folder(folders, parts[:-1], counts)
        if kind == b"d":
            _folder(folders, parts, counts)
        else:
            parent["contents"].append({"type": "file", "name": parts[-1]})
            counts["file"] += 1
    report = {"type": "report", "directories": counts["directory"], "files": counts["file"], "truncated": truncated}
    return [top, report]


def _folder(folders: dict[str, dict[str, Any]], parts: list[str], counts: dict[str, int]) -> dict[str, Any]:
    """Return the listing's folder at parts, adding it (and its parents) when new."""
    key = "/".join(parts)
    if key not in folders:
        parent = _folder(folders, parts[:-1], counts)
        folders[key] = {"type": "directory", "name": parts[-1], "contents": []}
        parent["contents"].append(folders[key])
        counts["directory"] += 1
    return folders[key]
