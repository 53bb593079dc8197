"""What a (re)connecting viewer is sent first: the tty's recent output, cut at a line, whole characters only."""

from terminals.flow import RECENT_BYTES, Recent


def test_it_keeps_everything_while_it_is_short() -> None:
    recent = Recent()
    recent.append(b"one\r\n")
    recent.append(b"two\r\n")
    assert recent.text() == "one\r\ntwo\r\n"
    assert recent.total == 10


def test_it_keeps_the_last_bytes_from_the_start_of_a_line() -> None:
    recent = Recent()
    line = b"x" * 99 + b"\n"
    for _ in range(3 * RECENT_BYTES // len(line)):
        recent.append(line)
    recent.append(b"last\n")
    text = recent.text()
    assert RECENT_BYTES - len(line) <= len(text) <= RECENT_BYTES
    assert text.startswith("x") and text.endswith("x\nlast\n")
    assert recent.total == 3 * RECENT_BYTES // len(line) * len(line) + 5


def test_it_leaves_an_incomplete_character_to_the_next_frame() -> None:
    recent = Recent()
    whale = "🐳".encode()
    recent.append(b"ok " + whale[:2])
    assert recent.text() == "ok "
    recent.append(whale[2:])
    assert recent.text() == "ok 🐳"
