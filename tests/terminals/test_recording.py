"""A terminal's hub records what it shows as asciicast v2, bounded, and the session's end deletes the recordings."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from sessions import recordings
from terminals.recording import FULL
from tests.terminals.conftest import Viewer


@pytest.fixture(autouse=True)
def recordings_dir(settings: Any, tmp_path: Path) -> Path:
    settings.TERMINAL_RECORDING = True
    settings.RECORDINGS_DIR = tmp_path / "recordings"
    return Path(settings.RECORDINGS_DIR)


def cast(node: dict[str, Any]) -> tuple[dict[str, Any], list[list[Any]]]:
    """Return the node's recording: its header, and its events."""
    header, *events = recordings.path(node["session_id"], node["name"]).read_text().splitlines()
    return json.loads(header), [json.loads(event) for event in events]


def printed(events: list[list[Any]]) -> str:
    return "".join(data for _, kind, data in events if kind == "o")


async def type_and_see(node: dict[str, Any], command: str, needle: str, **resize: int) -> None:
    """Open the node's terminal through the session WebSocket, run a command, and leave once it has answered."""
    async with Viewer(node["session_id"]) as viewer:
        await viewer.ready(node["name"])
        if resize:
            await viewer.send("instance viewport resize", resize["cols"], resize["rows"])
        await viewer.type(node["name"], command + "\r")
        await viewer.output_until(node["name"], needle)


async def test_it_records_what_the_terminal_prints(node: dict[str, Any]) -> None:
    await type_and_see(node, "echo hello-recording-$((6*7))", "hello-recording-42\r\n")
    header, events = cast(node)
    assert header["version"] == 2
    assert (header["width"], header["height"]) == (80, 24)
    assert isinstance(header["timestamp"], int)
    assert all(isinstance(t, float) and kind in ("o", "r") and isinstance(data, str) for t, kind, data in events)
    assert [t for t, _, _ in events] == sorted(t for t, _, _ in events)
    assert "hello-recording-42\r\n" in printed(events)


async def test_it_records_a_resize(node: dict[str, Any]) -> None:
    await type_and_see(node, "stty size | tr ' ' x", "37x101\r\n", cols=101, rows=37)
    _, events = cast(node)
    resized = [i for i, (_, kind, data) in enumerate(events) if kind == "r" and data == "101x37"]
    assert resized
    assert "37x101" in printed(events[resized[0] :])


async def test_it_continues_the_same_recording_when_the_terminal_is_opened_again(node: dict[str, Any]) -> None:
    await type_and_see(node, "echo first-$((1+1))", "first-2\r\n")
    await type_and_see(node, "echo second-$((2+2))", "second-4\r\n")
    header, events = cast(node)
    assert header["version"] == 2
    text = printed(events)
    assert text.index("first-2\r\n") < text.index("second-4\r\n")
    assert [t for t, _, _ in events] == sorted(t for t, _, _ in events)


async def test_it_stops_at_its_size_limit_under_a_flood(node: dict[str, Any], settings: Any) -> None:
    settings.RECORDING_MAX_BYTES = limit = 256 * 1024
    await type_and_see(node, "yes | head -c 20M; echo flood-$((6*7))", "flood-42\r\n")
    await type_and_see(node, "echo after-$((5*5))", "after-25\r\n")
    path = recordings.path(node["session_id"], node["name"])
    lines = path.read_bytes().splitlines(keepends=True)
    marker = lines[-1]
    assert json.loads(marker)[1:] == ["m", FULL]
    assert path.stat().st_size <= limit + len(marker)
    assert b"after-25" not in path.read_bytes()


def test_ending_the_session_deletes_its_recordings(node: dict[str, Any], client: Client, recordings_dir: Path) -> None:
    asyncio.run(type_and_see(node, "echo kept-$((2*4))", "kept-8\r\n"))
    assert recordings.find(node["session_id"], node["name"]) is not None
    assert client.delete(f"/sessions/{node['session_id']}").status_code == 200
    assert not recordings.folder(node["session_id"]).exists()
    assert list(recordings_dir.iterdir()) == []


def test_it_downloads_the_recording(node: dict[str, Any], client: Client) -> None:
    asyncio.run(type_and_see(node, "echo download-$((3*3))", "download-9\r\n"))
    url = f"/sessions/{node['session_id']}/instances/{node['name']}/recording"
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-asciicast"
    assert response["Content-Disposition"] == f'attachment; filename="node1-{node["session_id"][:8]}.cast"'
    header, *events = response.content.decode().splitlines()
    assert json.loads(header)["version"] == 2
    assert "download-9\r\n" in printed([json.loads(event) for event in events])


def gone_instance_recording(node: dict[str, Any], size: int) -> None:
    """Leave a recording of the size an instance added, flooded and deleted in the same session would leave."""
    path = recordings.path(node["session_id"], "pg-gone-node9-abc123")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)


async def test_a_session_past_its_recordings_budget_records_no_more(node: dict[str, Any], settings: Any) -> None:
    settings.RECORDING_SESSION_MAX_BYTES = 256 * 1024
    gone_instance_recording(node, 256 * 1024)
    await type_and_see(node, "echo unrecorded-$((6*7))", "unrecorded-42\r\n")
    assert recordings.find(node["session_id"], node["name"]) is None


async def test_a_new_recording_is_cut_to_what_the_session_has_left(node: dict[str, Any], settings: Any) -> None:
    settings.RECORDING_SESSION_MAX_BYTES = 256 * 1024
    gone_instance_recording(node, 192 * 1024)
    await type_and_see(node, "yes | head -c 5M; echo flood-$((6*7))", "flood-42\r\n")
    path = recordings.path(node["session_id"], node["name"])
    marker = path.read_bytes().splitlines(keepends=True)[-1]
    assert json.loads(marker)[1:] == ["m", FULL]
    assert path.stat().st_size <= 64 * 1024 + len(marker)
