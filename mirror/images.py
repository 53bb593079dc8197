"""The mirror's images, built from Debian packages and pushed under Docker Hub's names, so familiar commands work."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from engine.daemon import LABEL_RECIPE, default
from engine.images import push_image, remove_image
from mirror import registry
from sessions import rootfs

RECIPE_DIR = settings.BASE_DIR / "compose" / "mirror"

# Turns a debootstrapped root into the folder to import; scratch is an empty folder for a root of its own.
Shape = Callable[[Path, Path], Path]


@dataclass(frozen=True)
class Image:
    """An image as learners name it, its tags, and the Debian root it is made of."""

    name: str
    tags: tuple[str, ...]
    suite: str
    packages: tuple[str, ...]
    changes: tuple[str, ...]
    shape: Shape

    @property
    def repository(self) -> str:
        return f"library/{self.name}"

    @property
    def base(self) -> tuple[str, tuple[str, ...]]:
        return self.suite, self.packages

    def recipe(self) -> str:
        """Return a digest that changes whenever this module, the recipe folder or this image's tags do."""
        return rootfs.recipe_hash(Path(__file__), *sorted(RECIPE_DIR.iterdir()), self.name, *self.tags)

    def describe(self) -> str:
        return f"{self.name}:{','.join(self.tags)}"


# As Debian's -slim images do: no manuals or translations, now or in packages installed later; licences stay.
SLIM_DPKG_CONFIG = """\
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/locale/*
"""


def _debian(root: Path, scratch: Path) -> Path:
    rootfs.slim(root)
    for cache in root.glob("var/cache/apt/*.bin"):
        cache.unlink()
    (root / "etc/dpkg/dpkg.cfg.d/docker-slim").write_text(SLIM_DPKG_CONFIG)
    for folder in ("doc", "man", "info", "lintian", "locale"):
        for path in (root / "usr/share" / folder).glob("*"):
            if folder == "doc" and path.is_dir() and not path.is_symlink():
                for extra in path.iterdir():
                    if extra.name != "copyright":
                        _remove(extra)
            else:
                _remove(path)
    return root


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def _nginx(root: Path, scratch: Path) -> Path:
    # As Docker Hub's nginx does: logs go to the container's output, so `docker logs` shows them.
    for log, target in (("access.log", "/dev/stdout"), ("error.log", "/dev/stderr")):
        path = root / "var/log/nginx" / log
        path.unlink(missing_ok=True)
        path.symlink_to(target)
    return _debian(root, scratch)


def _redis(root: Path, scratch: Path) -> Path:
    (root / "data").mkdir(exist_ok=True)
    return _debian(root, scratch)


def _busybox(root: Path, scratch: Path) -> Path:
    out = _with_busybox(root, scratch / "busybox")
    applets = subprocess.run([out / "bin/busybox", "--list"], capture_output=True, text=True, check=True).stdout
    for applet in applets.split():
        link = out / "bin" / applet
        if not link.exists():
            link.symlink_to("busybox")
    (out / "etc").mkdir()
    (out / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n")
    (out / "etc/group").write_text("root:x:0:\nnogroup:x:65534:\n")
    for folder, mode in (("root", 0o700), ("tmp", 0o1777)):
        (out / folder).mkdir()
        (out / folder).chmod(mode)
    return out


def _hello_world(root: Path, scratch: Path) -> Path:
    out = _with_busybox(root, scratch / "hello-world")
    shutil.copy(RECIPE_DIR / "hello", out / "hello")
    (out / "hello").chmod(0o755)
    return out


def _with_busybox(root: Path, out: Path) -> Path:
    """Start a root of its own holding only Debian's static busybox."""
    (out / "bin").mkdir(parents=True)
    shutil.copy(root / "bin/busybox", out / "bin/busybox")
    return out


# docker import takes no STOPSIGNAL; nginx stops quickly on SIGTERM anyway.
NGINX = ("EXPOSE 80", 'CMD ["nginx", "-g", "daemon off;"]')
REDIS = ("EXPOSE 6379", "WORKDIR /data", 'CMD ["redis-server", "--protected-mode", "no"]')
# Docker Hub's debian:latest is trixie (Debian 13) since August 2025; so it is here.
IMAGES = (
    Image("hello-world", ("latest",), "bookworm", ("busybox-static",), ('CMD ["/hello"]',), _hello_world),
    Image("busybox", ("latest",), "bookworm", ("busybox-static",), ('CMD ["sh"]',), _busybox),
    Image("debian", ("bookworm", "bookworm-slim", "12"), "bookworm", (), ('CMD ["bash"]',), _debian),
    Image("debian", ("latest", "trixie", "trixie-slim", "13"), "trixie", (), ('CMD ["bash"]',), _debian),
    Image("nginx", ("latest",), "bookworm", ("nginx",), NGINX, _nginx),
    Image("redis", ("latest",), "bookworm", ("redis-server",), REDIS, _redis),
)


def names() -> list[str]:
    return list(dict.fromkeys(image.name for image in IMAGES))


def is_current(addr: str, image: Image) -> bool:
    """Tell whether every tag of image in the registry at addr was built from its current recipe."""
    recipe = image.recipe()
    return all(registry.image_label(addr, image.repository, tag, LABEL_RECIPE) == recipe for tag in image.tags)


def build_and_push(addr: str, images: list[Image], progress: rootfs.Progress) -> None:
    """Build images (one debootstrap per distinct base) and push them into the registry at addr."""
    bases: dict[tuple[str, tuple[str, ...]], list[Image]] = {}
    for image in images:
        bases.setdefault(image.base, []).append(image)
    for step, ((suite, packages), group) in enumerate(bases.items(), start=1):
        described = ", ".join(image.describe() for image in group)
        progress(f"[{step}/{len(bases)}] {described}: debootstrap {' '.join((suite, *packages))}")
        with rootfs.build_directory() as scratch:
            root = scratch / "root"
            root.mkdir()
            rootfs.debootstrap(root, packages, progress, suite=suite)
            for image in group:
                _push(addr, image, image.shape(root, scratch), progress)


def _push(addr: str, image: Image, root: Path, progress: rootfs.Progress) -> None:
    local = f"{addr}/{image.repository}:{image.tags[0]}"
    changes = [*image.changes, f"LABEL {LABEL_RECIPE}={image.recipe()}"]
    rootfs.import_root(root, local, changes, lambda line: progress(f"  {line}"))
    progress(f"  pushing {image.describe()}")
    try:
        push_image(default(), local, list(image.tags))
    finally:
        # The mirror holds the image now; the engine needs no copy.
        for tag in image.tags:
            remove_image(default(), f"{addr}/{image.repository}:{tag}")
