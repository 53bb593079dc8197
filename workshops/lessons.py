"""A workshop's lesson: markdown a trainer writes, cut into steps, rendered safe for the learner's session page.

Each level-2 heading (`## Title`) starts a step; text before the first one is an introduction. A fenced block
whose info string is `run` shows a Run button that types it into the learner's terminal; a fenced block `check`
is not shown: it is the step's check, a `sh -c` script run in the learner's instance (exit 0: the step passed).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any, cast

from django.utils.html import escape
from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token

LESSON_MAX_CHARS = 100_000
CHECK_MAX_CHARS = 4_000
RUN = "run"
CHECK = "check"
# Links a lesson may hold: the web, mail, and addresses on the playground itself (a path or an anchor).
SAFE_LINK = re.compile(r"(https?://|mailto:|/(?!/)|#)", re.IGNORECASE)


class LessonError(ValueError):
    """The lesson's markdown breaks a rule of lessons: the message says which, for the trainer's form."""


@dataclass
class Step:
    title: str
    title_html: str
    html: str
    check: str = ""


@dataclass
class Lesson:
    intro: str = ""
    steps: list[Step] = field(default_factory=list)


def _fence(self: Any, tokens: list[Token], idx: int, options: Any, env: Any) -> str:
    """Render a `run` block with its Run button, hide a `check` block, and render any other as plain code."""
    token = tokens[idx]
    kind = _kind(token)
    if kind == CHECK:
        return ""
    code = f"<pre><code>{escape(token.content)}</code></pre>"
    if kind == RUN:
        return f'<div class="runnable">{code}<button class="small run" type="button">Run</button></div>\n'
    return code + "\n"


def _link_open(self: Any, tokens: list[Token], idx: int, options: Any, env: Any) -> str:
    # A click must not take the learner away from their terminals.
    tokens[idx].attrSet("target", "_blank")
    tokens[idx].attrSet("rel", "noopener noreferrer")
    return str(self.renderToken(tokens, idx, options, env))


def _markdown() -> MarkdownIt:
    # Raw HTML is off: a trainer's <script> is shown as text on the learner's page, never run.
    md = MarkdownIt("commonmark", {"html": False})
    md.validateLink = lambda url: bool(SAFE_LINK.match(url.strip()))  # type: ignore[method-assign]
    md.add_render_rule("fence", _fence)
    md.add_render_rule("link_open", _link_open)
    return md


MARKDOWN = _markdown()


def _kind(token: Token) -> str:
    words = token.info.split()
    return words[0].lower() if words else ""


def _is_step_heading(token: Token) -> bool:
    return token.type == "heading_open" and token.tag == "h2" and token.level == 0


# Every dashboard refresh and session page parses its workshop's lesson again: the last few are kept parsed.
@functools.lru_cache(maxsize=32)
def parse(text: str) -> Lesson:
    """Cut the lesson into its introduction and steps, rendered to HTML; raise LessonError if it breaks a rule."""
    if len(text) > LESSON_MAX_CHARS:
        raise LessonError(f"a lesson holds at most {LESSON_MAX_CHARS} characters")
    env: dict[str, Any] = {}
    tokens = MARKDOWN.parse(text, env)
    groups: list[list[Token]] = [[]]
    for token in tokens:
        if _is_step_heading(token):
            groups.append([])
        groups[-1].append(token)
    intro, *steps = groups
    if any(token.type == "fence" and _kind(token) == CHECK for token in intro):
        raise LessonError("a check belongs to a step: put it after a `## Step` heading")
    return Lesson(intro=_render(intro, env), steps=[_step(group, env) for group in steps])


def _step(tokens: list[Token], env: dict[str, Any]) -> Step:
    title = tokens[1].content.strip() if len(tokens) > 1 else ""
    checks = [token.content for token in tokens if token.type == "fence" and _kind(token) == CHECK]
    if len(checks) > 1:
        raise LessonError(f"the step “{title}” has {len(checks)} checks; a step has at most one")
    check = checks[0].strip() if checks else ""
    if len(check) > CHECK_MAX_CHARS:
        raise LessonError(f"the check of the step “{title}” is longer than {CHECK_MAX_CHARS} characters")
    # The heading is the step's title, shown by the page's own markup: render the rest.
    title_html = str(
        cast(RendererHTML, MARKDOWN.renderer).renderInline(tokens[1].children or [], MARKDOWN.options, env)
    )
    return Step(title=title, title_html=title_html, html=_render(tokens[3:], env), check=check)


def _render(tokens: list[Token], env: dict[str, Any]) -> str:
    return str(MARKDOWN.renderer.render(tokens, MARKDOWN.options, env))
