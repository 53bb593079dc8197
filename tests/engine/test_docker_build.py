"""`docker build` works inside an instance, from an image of the mirror, and its image runs."""

from sessions.models import Playground
from tests.conftest import Api, sh

BUILD = """mkdir -p /root/app && cd /root/app && cat > Dockerfile <<'EOF'
FROM busybox
RUN echo built-$((6*7)) > /built
CMD ["cat", "/built"]
EOF
docker build -q -t app ."""


def test_it_builds_and_runs_an_image(live: Playground, api: Api, mirror: str) -> None:
    node = api.add(api.start())
    code, output = sh(node, BUILD)
    assert code == 0, output
    assert sh(node, "docker run --rm app") == (0, "built-42\n")
