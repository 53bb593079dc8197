"""Which ssh user names name an instance (pure parsing)."""

import pytest

from gateway.usernames import BadUserName, UserName, parse


def test_it_reads_the_full_user_name() -> None:
    assert parse("ip10-213-0-2-abcdefghijklmnopqrstuvwxyz") == UserName(
        "10.213.0.2", "abcdefghijklmnopqrstuvwxyz", False
    )


def test_it_reads_pwds_short_user_name() -> None:
    assert parse("10-0-1-3-48a594c4") == UserName("10.0.1.3", "48a594c4", True)


@pytest.mark.parametrize(
    "name",
    ["root", "", "ip10-0-0-1", "ip300-0-0-1-abcdefghijklmnopqrstuvwxyz", "10-0-1-3-48a594c", "ip10-0-0-1-abc_def-ghij"],
)
def test_it_refuses_other_names(name: str) -> None:
    with pytest.raises(BadUserName, match="is not a playground user"):
        parse(name)
