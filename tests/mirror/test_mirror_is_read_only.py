"""A learner cannot push into the mirror: what one session pulls, no other session may have written."""

from sessions.models import Playground
from tests.conftest import Api, sh


def test_it_refuses_a_push_from_a_sandbox(live: Playground, api: Api, mirror: str) -> None:
    node = api.add(api.start())
    assert sh(node, f"docker pull -q busybox && docker tag busybox {mirror}/library/busybox:mine")[0] == 0
    code, output = sh(node, f"docker push {mirror}/library/busybox:mine")
    assert code != 0
    assert "Method not allowed" in output, output
    assert sh(node, f"curl -sf http://{mirror}/v2/library/busybox/manifests/mine")[0] != 0


def test_it_refuses_to_start_an_upload(live: Playground, api: Api, mirror: str) -> None:
    # A push of new layers starts here; the engine retries the refusal for about a minute before it gives up.
    node = api.add(api.start())
    status = "curl -s -o /dev/null -w '%{http_code}' -X POST"
    assert sh(node, f"{status} http://{mirror}/v2/learner/app/blobs/uploads/") == (0, "405")
