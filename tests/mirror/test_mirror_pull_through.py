"""With MIRROR_PROXY_URL, the mirror fetches what it lacks from upstream once and keeps it for every sandbox.

Docker Hub is out of reach here, so a registry on loopback stands in for it.
"""

import contextlib
import tarfile
from pathlib import Path
from typing import Any

from engine import images
from engine.daemon import default
from engine.mirror import mirror_host
from mirror import registry
from sessions import firewall
from sessions.models import Playground
from tests.conftest import Api, sh


def test_it_fetches_an_image_from_upstream_and_caches_it(
    live: Playground, api: Api, settings: Any, tmp_path: Path
) -> None:
    settings.MIRROR_STORAGE = tmp_path / "upstream"
    with contextlib.ExitStack() as stack, registry.running("127.0.0.1", read_only=False) as upstream:
        _push_tiny_image(f"{upstream}/library/upstream-only:latest", tmp_path)
        settings.MIRROR_STORAGE, settings.MIRROR_PROXY_URL = tmp_path / "cache", f"http://{upstream}"
        with registry.running(mirror_host(), read_only=True) as mirror:
            settings.MIRROR_PORT = int(mirror.rsplit(":", 1)[1])
            stack.enter_context(firewall.port_opened(mirror_host(), settings.MIRROR_PORT))
            node = api.add(api.start())
            code, output = sh(node, "docker pull upstream-only")
            assert code == 0, output
    assert (tmp_path / "cache/docker/registry/v2/repositories/library/upstream-only").is_dir()


def _push_tiny_image(tag: str, tmp_path: Path) -> None:
    (tmp_path / "greeting").write_text("hello from upstream\n")
    with tarfile.open(tmp_path / "root.tar", "w") as tar:
        tar.add(tmp_path / "greeting", arcname="greeting")
    images.import_rootfs(default(), tmp_path / "root.tar", tag, [])
    try:
        images.push_image(default(), tag, ["latest"])
    finally:
        images.remove_image(default(), tag)
