"""Where an instance's terminal recording is kept, and its removal with the session.

The hub writes the recordings (terminals/recording.py); sessions own where they live and when they go, so ending
a session removes them without knowing about terminals. One folder per session, one asciicast v2 file per
instance: RECORDINGS_DIR/<session id>/<instance name>.cast.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

from django.conf import settings

log = logging.getLogger(__name__)

# Session ids and instance names are letters, digits and dashes; anything else never names a file.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


def folder(session_id: str) -> Path:
    """Return the folder holding the session's recordings (which may not exist)."""
    if not _NAME.fullmatch(session_id):
        raise ValueError(f"not a session id: {session_id!r}")
    return Path(settings.RECORDINGS_DIR) / session_id


def path(session_id: str, instance: str) -> Path:
    """Return the file an instance's recording is written to (which may not exist)."""
    if not _NAME.fullmatch(instance):
        raise ValueError(f"not an instance name: {instance!r}")
    return folder(session_id) / f"{instance}.cast"


def room(session_id: str, instance: str) -> int:
    """Return how long the instance's recording may grow to: RECORDING_MAX_BYTES, less what the session's other
    recordings already hold past RECORDING_SESSION_MAX_BYTES.

    A learner adding, flooding and deleting instances over and over would otherwise leave RECORDING_MAX_BYTES on
    disk each time, kept until the session ends (a workshop's, until the workshop is deleted).
    """
    mine = path(session_id, instance)
    others = 0
    try:
        with os.scandir(folder(session_id)) as entries:
            for entry in entries:
                if entry.name != mine.name and entry.is_file(follow_symlinks=False):
                    others += entry.stat(follow_symlinks=False).st_size
    except FileNotFoundError:
        pass
    return max(0, min(settings.RECORDING_MAX_BYTES, settings.RECORDING_SESSION_MAX_BYTES - others))


def find(session_id: str, instance: str) -> Path | None:
    """Return the instance's recording, or None when it has none."""
    found = path(session_id, instance)
    return found if found.is_file() else None


# Features above sessions that keep some sessions' recordings past their end (a workshop's, until it is deleted).
_keepers: list[Callable[[str], bool]] = []


def keep_when(keeper: Callable[[str], bool]) -> None:
    """Register a test telling whether a session's recordings outlive it; a feature's AppConfig calls this once."""
    if keeper not in _keepers:
        _keepers.append(keeper)


def kept(session_id: str) -> bool:
    """Tell whether a registered keeper wants the session's recordings kept when it ends."""
    return any(keeper(session_id) for keeper in _keepers)


def remove(session_id: str, *, keep: bool = False) -> None:
    """Delete the session's recordings as it ends; keep=True leaves them (a workshop's trainer replays them later).

    A hub still reading an instance of the session writes on into its open file, which the removal has unlinked,
    so nothing comes back; a hub never creates the folder again once it has started (terminals/recording.py).
    """
    if keep:
        return
    try:
        shutil.rmtree(folder(session_id))
    except FileNotFoundError:
        pass
    except OSError:
        log.exception("could not remove the recordings of session %s", session_id)
