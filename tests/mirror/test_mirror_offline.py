"""An image the mirror lacks fails at once, saying why, instead of waiting on an unreachable Docker Hub."""

from sessions.models import Playground
from tests.conftest import Api, sh


def test_it_refuses_an_image_not_in_the_mirror_with_a_clear_message(live: Playground, api: Api, mirror: str) -> None:
    node = api.add(api.start())
    code, output = sh(node, "docker pull alpine:3.20")
    assert code != 0
    assert "this playground has no internet access" in output, output
    assert "hello-world, busybox, debian, nginx, redis" in output


def test_it_refuses_other_registries_the_same_way(live: Playground, api: Api, mirror: str) -> None:
    node = api.add(api.start())
    code, output = sh(node, "docker pull ghcr.io/example/app")
    assert code != 0
    assert "this playground has no internet access" in output, output
