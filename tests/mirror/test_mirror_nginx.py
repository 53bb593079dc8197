"""Seeded images behave like Docker Hub's: nginx serves its page, redis answers, debian is a shell away."""

from sessions.models import Playground
from tests.conftest import Api, fetch, sh


def test_it_serves_nginx_on_a_published_port(live: Playground, api: Api, mirror: str) -> None:
    node = api.add(api.start())
    code, output = sh(node, "docker run -d -p 8080:80 nginx")
    assert code == 0, output
    assert "<title>Welcome to nginx!</title>" in fetch(node, "localhost:8080")


def test_it_runs_redis_and_debian(live: Playground, api: Api, mirror: str) -> None:
    node = api.add(api.start())
    assert sh(node, "docker run -d --name cache redis")[0] == 0
    code, output = sh(node, "for i in $(seq 50); do docker exec cache redis-cli ping && exit 0; sleep 0.1; done")
    assert "PONG" in output, output
    for image, version in (("debian:bookworm-slim", "12."), ("debian", "13.")):
        code, output = sh(node, f"docker run --rm {image} cat /etc/debian_version")
        assert code == 0 and output.splitlines()[-1].startswith(version), output
