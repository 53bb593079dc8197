"""An interactive `ssh` login: a login shell on a PTY, with the client's TERM, window size and exit status."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import termios
import time
from typing import Any

from tests.gateway.conftest import Ssh, user_for
from tests.processes import wait_until


class Terminal:
    """A pseudo-terminal with OpenSSH's ssh running in it, as a learner's terminal window would."""

    def __init__(self, ssh: Ssh, user: str, cols: int, rows: int) -> None:
        self.master, slave = pty.openpty()
        self.resize(cols, rows)
        self.process = subprocess.Popen(
            ssh.args(user, "-tt"),
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env={**ssh.env, "TERM": "xterm-256color"},
            start_new_session=True,
        )
        os.close(slave)
        self.output = b""

    def resize(self, cols: int, rows: int) -> None:
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def window_changed(self) -> None:
        # A terminal emulator's resize reaches ssh as SIGWINCH; ssh then reads the new size and tells the server.
        os.kill(self.process.pid, signal.SIGWINCH)

    def type(self, text: str) -> None:
        os.write(self.master, text.encode())

    def expect(self, pattern: str, timeout: float = 30) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while True:
            match = re.search(pattern, self.output.decode(errors="replace"))
            if match:
                self.output = self.output[match.end() :]
                return match
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no {pattern!r} in {self.output!r}"
            if select.select([self.master], [], [], remaining)[0]:
                self.output += os.read(self.master, 65536)

    def close(self) -> int:
        code = self.process.wait(30)
        os.close(self.master)
        return code


def test_it_gives_a_login_shell_with_the_clients_terminal(ssh: Ssh, node: dict[str, Any]) -> None:
    terminal = Terminal(ssh, user_for(node), cols=100, rows=30)
    terminal.type("echo term=$TERM size=$(stty size) login=$(shopt login_shell | cut -f2)\n")
    found = terminal.expect(r"term=(\S+) size=(\d+) (\d+) login=(\w+)")
    assert found.groups() == ("xterm-256color", "30", "100", "on")

    terminal.resize(cols=132, rows=50)
    terminal.window_changed()

    def resized() -> bool:
        """the shell sees the new window size"""
        terminal.type("echo size=$(stty size)\n")
        return terminal.expect(r"size=(\d+) (\d+)").groups() == ("50", "132")

    # The window change and the keystrokes travel on different requests: the shell may read one first.
    wait_until(resized, timeout=10)

    terminal.type("exit 5\n")
    assert terminal.close() == 5
