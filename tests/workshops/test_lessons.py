"""A lesson's markdown is cut into steps at level-2 headings, and rendered with no way to run a trainer's script."""

from __future__ import annotations

import pytest

from sessions.models import Playground
from workshops import lessons
from workshops.forms import WorkshopForm

LESSON = """Welcome.

## Start *nginx*

Type this:

```run
docker run -d --name web nginx:alpine
```

```check
docker inspect web
```

## Look around

```sh
docker ps
```
"""


def test_it_cuts_the_lesson_into_an_intro_and_steps() -> None:
    lesson = lessons.parse(LESSON)
    assert lesson.intro == "<p>Welcome.</p>\n"
    assert [step.title for step in lesson.steps] == ["Start *nginx*", "Look around"]
    assert lesson.steps[0].title_html == "Start <em>nginx</em>"
    assert [step.check for step in lesson.steps] == ["docker inspect web", ""]


def test_it_gives_a_run_block_a_button_and_hides_the_check() -> None:
    first, second = lessons.parse(LESSON).steps
    assert '<div class="runnable"><pre><code>docker run -d --name web nginx:alpine\n</code></pre>' in first.html
    assert '<button class="small run" type="button">Run</button>' in first.html
    assert "docker inspect" not in first.html
    assert "Run</button>" not in second.html
    assert "<code>docker ps\n</code>" in second.html


def test_a_heading_inside_a_code_block_starts_no_step() -> None:
    lesson = lessons.parse("## One\n\n```\n## not a step\n```\n")
    assert len(lesson.steps) == 1


def test_it_shows_raw_html_as_text() -> None:
    lesson = lessons.parse("<script>alert(1)</script>\n\n## <img src=x onerror=alert(1)>\n\n<b onclick=x>hi</b>\n")
    rendered = lesson.intro + lesson.steps[0].title_html + lesson.steps[0].html
    assert "<script" not in rendered and "<img" not in rendered and "<b " not in rendered
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in lesson.intro


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        " javascript:alert(1)",
        "vbscript:x",
        "data:text/html,x",
        "//evil.example/",
    ],
)
def test_it_makes_no_link_of_a_dangerous_address(url: str) -> None:
    rendered = lessons.parse(f"[click]({url}) ![img]({url})").intro
    assert "href" not in rendered and "src" not in rendered


def test_it_opens_safe_links_beside_the_terminals() -> None:
    rendered = lessons.parse("[docs](https://docs.docker.com/) [home](/) [mail](mailto:a@b.c)").intro
    assert '<a href="https://docs.docker.com/" target="_blank" rel="noopener noreferrer">docs</a>' in rendered
    assert '<a href="/"' in rendered and '<a href="mailto:a@b.c"' in rendered


def test_it_escapes_a_run_block() -> None:
    html = lessons.parse('## One\n\n```run\necho "</code><script>x</script>"\n```\n').steps[0].html
    assert "<script>" not in html
    assert "&lt;/code&gt;&lt;script&gt;" in html


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("```check\ntrue\n```\n", "a check belongs to a step"),
        ("## One\n```check\ntrue\n```\n```check\nfalse\n```\n", "has 2 checks"),
        ("## One\n```check\n" + "x" * 5000 + "\n```\n", "longer than"),
        ("x" * 100_001, "at most 100000 characters"),
    ],
)
def test_it_refuses_a_lesson_that_breaks_a_rule(text: str, error: str) -> None:
    with pytest.raises(lessons.LessonError, match=error):
        lessons.parse(text)


def test_the_trainers_form_refuses_a_broken_lesson(playground: Playground) -> None:
    data = {"title": "T", "seats": 3, "starts_at": "2030-01-01 10:00", "ends_at": "2030-01-01 12:00"}
    data |= {"instances": 1, "session_length": "01:00:00", "warm_pool": 0, "lesson": "```check\ntrue\n```"}
    form = WorkshopForm(data, playground=playground)
    assert not form.is_valid()
    assert "a check belongs to a step" in form.errors["lesson"][0]
    assert WorkshopForm({**data, "lesson": "## One\n```check\ntrue\n```"}, playground=playground).is_valid()
