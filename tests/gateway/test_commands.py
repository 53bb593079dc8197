"""`ssh host command`: the command runs in the instance with stdout, stderr and the exit code kept apart."""

from typing import Any

from tests.gateway.conftest import Ssh, user_for


def test_it_prints_the_inner_engines_version(ssh: Ssh, node: dict[str, Any]) -> None:
    result = ssh.run(user_for(node), "docker", "version")
    assert result.returncode == 0, result.stderr
    assert "Server:" in result.stdout
    assert "Engine:" in result.stdout


def test_it_keeps_stdout_stderr_and_the_exit_code(ssh: Ssh, node: dict[str, Any]) -> None:
    result = ssh.run(user_for(node), "cat; echo to-stderr >&2; hostname; exit 3", input="piped in\n")
    assert result.returncode == 3
    assert result.stdout == "piped in\nnode1\n"
    assert result.stderr.endswith("to-stderr\n")


def test_it_gives_a_command_a_tty_when_asked(ssh: Ssh, node: dict[str, Any]) -> None:
    result = ssh.run(user_for(node), "tty; echo $TERM", extra=("-tt",), env={**ssh.env, "TERM": "vt220"})
    assert result.returncode == 0
    tty, term = result.stdout.splitlines()[:2]
    assert tty.startswith("/dev/pts/")
    assert term == "vt220"
