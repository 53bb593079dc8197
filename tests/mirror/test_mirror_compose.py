"""`docker compose up` in a fresh instance pulls its services' images from the mirror."""

from sessions.models import Playground
from tests.conftest import Api, fetch, sh

COMPOSE = """\
services:
  web:
    image: nginx
    ports: ["8080:80"]
  cache:
    image: redis
"""


def test_it_brings_up_a_compose_project(live: Playground, api: Api, mirror: str) -> None:
    node = api.add(api.start())
    code, output = sh(
        node,
        f"mkdir -p /root/app && cd /root/app && printf '%s' '{COMPOSE}' > compose.yaml"
        " && docker compose up -d --quiet-pull",
    )
    assert code == 0, output
    assert "Welcome to nginx!" in fetch(node, "localhost:8080")
    code, output = sh(node, "cd /root/app && docker compose exec -T cache redis-cli ping")
    assert output.strip() == "PONG", output
