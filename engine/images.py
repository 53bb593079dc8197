"""Images: built from a root file system, labelled with their recipe, pushed to and removed from registries."""

from __future__ import annotations

from pathlib import Path

from docker.errors import ImageNotFound

from engine import ENGINE_ERRORS, EngineError
from engine.daemon import LABEL_RECIPE, Daemon, raise_if_any, remove_quietly


def image_recipe(daemon: Daemon, tag: str) -> str | None:
    """Return the recipe label of a local image, or None when the image is absent."""
    try:
        labels = daemon.client().api.inspect_image(tag)["Config"].get("Labels") or {}
    except ImageNotFound:
        return None
    return labels.get(LABEL_RECIPE, "")


def import_rootfs(daemon: Daemon, tarball: Path, tag: str, changes: list[str]) -> None:
    """Import a root file system tarball as an image tagged `tag`."""
    repository, _, version = tag.rpartition(":")
    if not repository:
        repository, version = tag, "latest"
    try:
        daemon.client().api.import_image_from_file(str(tarball), repository=repository, tag=version, changes=changes)
    except ENGINE_ERRORS as e:
        raise EngineError(f"docker import failed: {e}") from e


def push_image(daemon: Daemon, image: str, tags: list[str]) -> None:
    """Tag image as repository:tag for each tag (repository naming a registry) and push them."""
    api = daemon.client().api
    repository, _, _ = image.rpartition(":")
    try:
        for tag in tags:
            api.tag(image, repository, tag)
            for line in api.push(repository, tag, stream=True, decode=True):
                if "error" in line:
                    raise EngineError(f"push of {repository}:{tag} failed: {line['error']}")
    except ENGINE_ERRORS as e:
        raise EngineError(f"push of {repository} failed: {e}") from e


def remove_image(daemon: Daemon, image: str) -> None:
    """Remove an image tag from the engine (the image goes once no tag names it)."""
    error = remove_quietly(f"image {image}", daemon.client().api.remove_image, image)
    raise_if_any([error])


def copy_image(source: Daemon, target: Daemon, tag: str) -> bool:
    """Copy an image from one engine to another (a new engine of the pool); False when it has it already."""
    try:
        wanted = source.client().api.inspect_image(tag)["Id"]
        try:
            if target.client().api.inspect_image(tag)["Id"] == wanted:
                return False
        except ImageNotFound:
            pass
        # Streamed from one engine to the other, never whole in memory.
        target.client().api.load_image(source.client().api.get_image(tag))
    except (*ENGINE_ERRORS, KeyError) as e:
        raise EngineError(f"could not copy {tag} from {source.url} to {target.url}: {e}") from e
    return True
