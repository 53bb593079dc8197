"""How a viewer's terminal attaches to an instance's shared shell: a tmux client inside a docker exec.

tmux keeps the shell alive when a WebSocket drops, redraws the current screen exactly once when a viewer
(re)attaches, shares one shell between viewers, and sizes the window to the smallest of them, as PWD did.
The options travel on the command line, so the sandbox image needs nothing but the tmux package.
"""

from __future__ import annotations

import shlex

SESSION = "main"

OPTIONS: list[tuple[str, str]] = [
    ("history-limit", "50000"),
    ("status", "off"),
    ("mouse", "off"),
    # Without this, Esc in vim waits half a second to tell it from an Alt chord.
    ("escape-time", "0"),
    ("default-terminal", "tmux-256color"),
    ("window-size", "smallest"),
    ("aggressive-resize", "on"),
    # No alternate screen in the browser: what scrolls off the top lands in xterm.js's scrollback.
    ("terminal-overrides", "xterm*:smcup@:rmcup@"),
]

# The exec's own environment: tmux turns non-ASCII into "_" unless it believes the client speaks UTF-8.
ENV = {"TERM": "xterm-256color", "LANG": "C.UTF-8"}


def attach_command() -> list[str]:
    """Return the argv that attaches to the instance's shell session, creating it on first use."""
    argv = ["tmux", "-u", "-f", "/dev/null", "start-server"]
    for option, value in OPTIONS:
        argv += [";", "set-option", "-g", option, value]
    tmux = shlex.join([*argv, ";", "new-session", "-A", "-s", SESSION])
    # A playground may offer images without tmux: they still get a shell, just not a shared, lasting one.
    return [
        "sh",
        "-c",
        f"command -v tmux >/dev/null && exec {tmux}; command -v bash >/dev/null && exec bash -l; exec sh -l",
    ]
