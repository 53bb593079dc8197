"""Build container images from Debian packages, with no registry: debootstrap a root, tar it, import it."""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from django.conf import settings

from engine import daemon, images

Progress = Callable[[str], None]

DEBIAN_SUITE = "trixie"
# debootstrap's stage lines, without the one-line-per-package noise.
# debootstrap runs this many times before set-up gives up (downloads fail for a moment now and then).
ATTEMPTS = 3
_MILESTONES = tuple(
    f"I: {stage}"
    for stage in (
        "Retrieving Release",
        "Resolving",
        "Installing core",
        "Unpacking required",
        "Configuring required",
        "Unpacking the base",
        "Configuring the base",
        "Base system",
    )
)


def recipe_hash(*parts: Path | str) -> str:
    """Return a short digest of the files and strings that define an image."""
    digest = hashlib.sha256()
    for part in parts:
        data = part.read_bytes() if isinstance(part, Path) else part.encode()
        digest.update(len(data).to_bytes(8, "big") + data)
    return digest.hexdigest()[:16]


def read_package_list(path: Path) -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


def debootstrap(
    target: Path, packages: Iterable[str], progress: Progress, variant: str = "minbase", suite: str = DEBIAN_SUITE
) -> None:
    """Install a Debian root (of suite) into target, reporting debootstrap's progress lines."""
    if shutil.which("debootstrap") is None:
        raise RuntimeError("debootstrap is not installed: apt-get install debootstrap")
    cache = settings.DATA_DIR / "cache" / "debootstrap"
    cache.mkdir(parents=True, exist_ok=True)
    include = ",".join(packages)
    cmd = [
        "debootstrap",
        f"--variant={variant}",
        f"--cache-dir={cache}",
        # debootstrap rejects an empty --include=.
        *([f"--include={include}"] if include else []),
        suite,
        str(target),
        settings.DEBIAN_MIRROR,
    ]
    # A download can fail for a moment ("Failed getting release file", "Couldn't download packages"): try again
    # from an empty root; what was downloaded already stays in the cache.
    tail: list[str] = []
    for attempt in range(1, ATTEMPTS + 1):
        failed = _run_debootstrap(cmd, progress)
        if failed is None:
            return
        tail = failed
        if attempt < ATTEMPTS:
            progress(f"  debootstrap failed ({tail[-1] if tail else 'no output'}); trying again in {attempt * 5} s")
            shutil.rmtree(target)
            target.mkdir()
            time.sleep(attempt * 5)
    raise RuntimeError("debootstrap failed:\n" + "\n".join(tail))


def _run_debootstrap(cmd: list[str], progress: Progress) -> list[str] | None:
    """Run debootstrap; return None when it succeeded, else the last lines it printed."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    tail: list[str] = []
    for line in proc.stdout:
        line = line.rstrip()
        tail = [*tail[-20:], line]
        if line.startswith(_MILESTONES):
            progress(f"  {line[3:]}")
    return None if proc.wait() == 0 else tail


def slim(root: Path) -> None:
    """Drop package caches and lists that only make the image bigger."""
    for pattern in ("var/cache/apt/archives/*.deb", "var/lib/apt/lists/*", "var/log/*.log"):
        for path in root.glob(pattern):
            if path.is_file():
                path.unlink()


def import_root(root: Path, tag: str, changes: list[str], progress: Progress) -> None:
    """Tar the root and import it into the engine as tag."""
    with tempfile.TemporaryDirectory(dir=settings.DATA_DIR) as tmp:
        tarball = Path(tmp) / "rootfs.tar"
        progress("packing the root file system")
        subprocess.run(["tar", "--numeric-owner", "--xattrs", "-C", str(root), "-cf", str(tarball), "."], check=True)
        progress(f"importing {tarball.stat().st_size // 2**20} MiB into the engine as {tag}")
        images.import_rootfs(daemon.default(), tarball, tag, changes)


@contextlib.contextmanager
def build_directory() -> Iterator[Path]:
    """Yield an empty folder for a root, removed afterwards even if debootstrap left mounts inside."""
    build = settings.DATA_DIR / "build"
    build.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(dir=build))
    try:
        yield path
    finally:
        _unmount_below(path)
        shutil.rmtree(path, ignore_errors=True)


def _unmount_below(path: Path) -> None:
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    for mount in sorted((m for m in mounts if m.startswith(f"{path}/")), reverse=True):
        subprocess.run(["umount", "-l", mount], check=False)
