"""A learner's first command in a fresh instance works: images come from the playground's mirror."""

from sessions.models import Playground
from tests.conftest import Api, sh


def test_it_greets_a_learner_who_runs_hello_world(live: Playground, api: Api, mirror: str) -> None:
    node = api.add(api.start())
    code, output = sh(node, "docker run --rm hello-world")
    assert code == 0, output
    assert "Hello from Docker!" in output
    assert "registry mirror" in output


def test_it_tells_the_engine_where_the_mirror_is(live: Playground, api: Api, mirror: str) -> None:
    node = api.add(api.start())
    code, output = sh(node, "docker info --format '{{json .RegistryConfig.Mirrors}}'")
    assert (code, output.strip()) == (0, f'["http://{mirror}/"]')
