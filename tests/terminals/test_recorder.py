"""The recorder's file: one writer at a time, one recording across hubs, and nothing more once full."""

from __future__ import annotations

import json
from pathlib import Path

from terminals.recording import FULL, Recorder


def events(path: Path) -> list[list[object]]:
    header, *lines = path.read_text().splitlines()
    assert json.loads(header)["version"] == 2
    return [json.loads(line) for line in lines]


async def test_it_lets_one_writer_record_at_a_time(tmp_path: Path) -> None:
    path = tmp_path / "s" / "node.cast"
    first, second = Recorder(path, 10_000), Recorder(path, 10_000)
    first.output("from the first\r\n")
    second.output("from the second\r\n")
    first.close()
    second.close()
    assert [data for _, _, data in events(path)] == ["from the first\r\n"]


async def test_it_continues_a_recording_at_the_size_the_terminal_has_now(tmp_path: Path) -> None:
    path = tmp_path / "s" / "node.cast"
    first = Recorder(path, 10_000)
    first.output("one\r\n")
    first.close()
    second = Recorder(path, 10_000)
    second.resize(100, 30)
    second.output("two\r\n")
    second.close()
    assert path.read_text().count('"version"') == 1
    assert [event[1:] for event in events(path)] == [["o", "one\r\n"], ["r", "100x30"], ["o", "two\r\n"]]


async def test_it_never_writes_to_a_full_recording_again(tmp_path: Path) -> None:
    path = tmp_path / "s" / "node.cast"
    first = Recorder(path, 1000)
    for n in range(100):
        first.output(f"line {n}\r\n")
    assert first.done
    first.close()
    full = path.read_bytes()
    assert json.loads(full.splitlines()[-1])[1:] == ["m", FULL]
    assert len(full) <= 1000 + len(full.splitlines(keepends=True)[-1])
    again = Recorder(path, 1000)
    again.resize(120, 40)
    again.output("more\r\n")
    again.close()
    assert path.read_bytes() == full
