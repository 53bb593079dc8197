"""Give the session page its lesson panel, when the session sits in a workshop seat whose trainer wrote one."""

from __future__ import annotations

from typing import Any

from django import template

from sessions.models import Session
from workshops import checks

register = template.Library()


@register.inclusion_tag("workshops/lesson.html")
def lesson_panel(session: Session, readonly: bool = False) -> dict[str, Any]:
    """Render the lesson's introduction and steps, each with its last check's verdict; nothing without a lesson."""
    try:
        seat, lesson = checks.lesson_of(session)
    except checks.NoLesson:
        return {"lesson": None}
    verdicts = {check.step: check for check in seat.step_checks.all()}
    steps = [{"index": i, "step": step, "verdict": verdicts.get(i)} for i, step in enumerate(lesson.steps)]
    return {"lesson": lesson, "steps": steps, "session": session, "readonly": readonly}
