"""What a learner finds in a fresh instance."""

import time

from engine import daemon
from sessions.models import Playground
from tests.conftest import Api, sh


def test_it_has_the_tools_a_learner_expects(live: Playground, api: Api) -> None:
    node = api.add(api.start())
    tools = "docker git curl vim less jq tree ip ssh bash tmux"
    code, output = sh(node, f"for t in {tools}; do command -v $t >/dev/null || echo missing $t; done")
    assert (code, output) == (0, "")
    code, output = sh(node, "docker compose version")
    assert code == 0, output


def test_its_prompt_names_the_node_and_its_address(live: Playground, api: Api) -> None:
    node = api.add(api.start())
    code, output = sh(node, "bash -ic 'echo \"${PS1@P}\"' 2>/dev/null")
    assert output.startswith(f"[node1] (local) root@{node['ip']} ~")


def test_its_login_shell_says_it_is_a_throw_away_sandbox(live: Playground, api: Api) -> None:
    node = api.add(api.start())
    assert "throw-away sandbox" in sh(node, "cat /etc/motd")[1]


def _login_shells(node: dict[str, str]) -> str:
    return sh(node, "pgrep -f -x 'bash --login'")[1].strip()


def _wait_for_login_shell(node: dict[str, str], other_than: str = "") -> str:
    for _ in range(50):
        shells = _login_shells(node)
        if shells and shells != other_than:
            return shells
        time.sleep(0.1)
    raise AssertionError(f"no new login shell on the tty (had {other_than!r})")


def test_its_tty_shell_starts_once_a_viewer_sizes_the_tty(live: Playground, api: Api) -> None:
    node = api.add(api.start())
    # Until then its welcome and prompt would go to a terminal nobody reads.
    assert _login_shells(node) == ""
    daemon.default().client().api.resize(node["name"], height=24, width=80)
    _wait_for_login_shell(node)


def test_its_tty_shell_comes_back_after_exit(live: Playground, api: Api) -> None:
    node = api.add(api.start())
    daemon.default().client().api.resize(node["name"], height=24, width=80)
    before = _wait_for_login_shell(node)
    sh(node, "pkill -KILL -f -x 'bash --login'")
    _wait_for_login_shell(node, other_than=before)
