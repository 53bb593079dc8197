"""A learner cannot push into the mirror: what one session pulls, no other session may have written."""

from sessions.models import Playground
from tests.conftest import Api, sh

# The engine retries a refused upload for about a minute; one attempt shows the same refusal at once.
ONE_UPLOAD_ATTEMPT = (
    "jq '. + {\"max-upload-attempts\": 1}' /etc/docker/daemon.json > /tmp/d && mv /tmp/d /etc/docker/daemon.json"
    " && kill $(pidof dockerd) && sleep 1.5 && for i in $(seq 100); do docker info >/dev/null 2>&1 && exit 0;"
    " sleep 0.1; done; exit 1"
)


def test_it_refuses_a_push_from_a_sandbox(live: Playground, api: Api, mirror: str) -> None:
    node = api.add(api.start())
    assert sh(node, ONE_UPLOAD_ATTEMPT)[0] == 0
    assert sh(node, f"docker pull -q busybox && docker tag busybox {mirror}/library/busybox:mine")[0] == 0
    code, output = sh(node, f"docker push {mirror}/library/busybox:mine")
    assert code != 0
    assert "Method not allowed" in output
    assert sh(node, f"curl -sf http://{mirror}/v2/library/busybox/manifests/mine")[0] != 0
