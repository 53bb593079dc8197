"""The swarm steps setup (and stacks) share: a join token comes from the learner's instance and is checked."""

from __future__ import annotations

import pytest

from sessions import runs
from sessions.models import Instance, Playground
from tests.conftest import Api, sh

TOKEN = "SWMTKN-1-" + "a" * 50 + "-" + "b" * 25
# The learner is root in their instance and may put any `docker` first on the PATH.
LYING_DOCKER = """cat > /usr/local/sbin/docker <<'EOF'
#!/bin/sh
echo '{answer}'
EOF
chmod +x /usr/local/sbin/docker"""


def test_it_forms_a_swarm_from_a_manager_and_a_worker(live: Playground, api: Api) -> None:
    session_id = api.start()
    manager, worker = (Instance.objects.get(name=api.add(session_id)["name"]) for _ in range(2))
    init = runs.swarm_init(manager, 30)
    assert init.ok, init.output
    tokens = runs.join_tokens(manager, init)
    assert tokens["worker"] != tokens["manager"]
    assert runs.swarm_join(worker, tokens["worker"], manager, 30).ok
    assert sh(manager, "docker node ls -q | wc -l") == (0, "2\n")


@pytest.mark.parametrize(
    "answer",
    [
        f"{TOKEN} --advertise-addr 1.2.3.4",
        f"{TOKEN}; touch /pwned",
        "SWMTKN-1-short-token",
        "",
    ],
)
def test_it_refuses_a_join_token_that_is_not_one(live: Playground, api: Api, answer: str) -> None:
    instance = Instance.objects.get(name=api.add(api.start())["name"])
    assert sh(instance, LYING_DOCKER.format(answer=answer))[0] == 0
    assert sh(instance, "docker swarm join-token -q worker") == (0, answer + "\n"), "the lie is in place"
    init = runs.swarm_init(instance, 10)
    assert init.ok, "the lying docker says every step went well"
    with pytest.raises(runs.SwarmFailed, match="gave no valid join tokens"):
        runs.join_tokens(instance, init)


def test_it_never_passes_a_malformed_token_to_a_command_line(live: Playground, api: Api) -> None:
    instance = Instance.objects.get(name=api.add(api.start())["name"])
    with pytest.raises(runs.SwarmFailed, match="is not a swarm join token"):
        runs.swarm_join(instance, f"{TOKEN} --listen-addr 0.0.0.0", instance, 10)
