"""Kernel keys are charged to the host uid every sandbox's root maps to: no sandbox may make any."""

from sessions.models import Playground
from tests.conftest import Api, sh

# add_key(2) on x86_64, into the session keyring (-3); perl is in the sandbox image (perl-base).
ADD_KEYS = (
    'perl -e \'for (1..300) { my ($type, $name, $data) = ("user", "k$_", "x");'
    ' syscall(248, $type, $name, $data, 1, -3) < 0 or die "made a key\\n" } print $!+0\''
)


def test_it_answers_a_sandboxs_key_calls_with_enosys(live: Playground, api: Api) -> None:
    node = api.add(api.start())
    assert sh(node, ADD_KEYS) == (0, "38")


def test_it_starts_sandboxes_and_their_containers_without_keyrings(live: Playground, api: Api, mirror: str) -> None:
    node = api.add(api.start())
    sh(node, ADD_KEYS)
    # The inner engine's runc carries on without a keyring of its own, and so does the next sandbox.
    code, output = sh(node, "docker run --rm busybox echo inner")
    assert (code, output.splitlines()[-1]) == (0, "inner")
    assert api.add(api.start())["state"] == "running"
