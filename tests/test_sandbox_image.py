"""What a learner finds in a fresh instance."""

import time

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


def test_its_tty_shell_comes_back_after_exit(live: Playground, api: Api) -> None:
    node = api.add(api.start())
    _, before = sh(node, "pgrep -f -x 'bash --login'")
    sh(node, "pkill -KILL -f -x 'bash --login'")
    for _ in range(50):
        _, after = sh(node, "pgrep -f -x 'bash --login'")
        if after.strip() and after != before:
            break
        time.sleep(0.1)
    assert after.strip() and after != before
