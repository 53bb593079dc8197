"""compose/.env.example names every setting the app reads, each with a comment, so an operator sees them all."""

import re

from django.conf import settings

ENV_READ = re.compile(r'env\.(?:str|bool|int|float|list|db)\(\s*"([A-Z0-9_]+)"')


def example_lines() -> list[str]:
    return (settings.BASE_DIR / "compose" / ".env.example").read_text().splitlines()


def test_it_lists_every_setting_the_app_reads() -> None:
    read = set(ENV_READ.findall((settings.BASE_DIR / "playground" / "settings.py").read_text()))
    listed = {m[1] for line in example_lines() if (m := re.match(r"#?([A-Z0-9_]+)=", line))}
    assert read, "no env reads found: the pattern no longer matches settings.py"
    assert sorted(read - listed) == []


def test_each_setting_follows_a_comment() -> None:
    lines = example_lines()
    setting = re.compile(r"#?[A-Z0-9_]+=")
    uncommented = [
        line
        for previous, line in zip(lines, lines[1:], strict=False)
        if setting.match(line) and (setting.match(previous) or not previous.startswith("#"))
    ]
    assert uncommented == []
