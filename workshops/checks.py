"""A lesson step's check, run in the learner's instance: exit 0 passes the step, anything else fails it.

The learner is root in the instance: the check has a deadline and an output cap (sessions.runs), one check per
session runs at a time, and what it printed is only shown back to the learner, cut short.
"""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone

from sessions import runs
from sessions.lifecycle import BadInput, EngineTrouble, SandboxError
from sessions.models import Instance, Session
from sessions.slots import Slots
from workshops import lessons
from workshops.models import Seat, StepCheck

# What the learner sees of a check's output: its last EXCERPT characters (errors come last).
EXCERPT = 600


class NoLesson(SandboxError):
    status = 404
    code = "no_lesson"


class NoSuchStep(SandboxError):
    status = 404
    code = "no_such_step"


class NoCheck(SandboxError):
    status = 400
    code = "step_has_no_check"


class NoInstance(SandboxError):
    status = 409
    code = "no_instance"


class CheckRunning(SandboxError):
    status = 409
    code = "check_running"


class CheckNotRun(SandboxError):
    status = 409
    code = "check_not_run"


# A check holds a thread of the web process until it ends: one per session, on top of the commands' slots.
_running = Slots("lesson checks", CheckRunning)


def lesson_of(session: Session) -> tuple[Seat, lessons.Lesson]:
    """Return the seat the session sits in and its workshop's lesson, or raise NoLesson."""
    seat = Seat.objects.select_related("workshop").filter(session=session).first()
    if seat is None or not seat.workshop.lesson.strip():
        raise NoLesson("this session has no lesson: it is not a workshop's, or its trainer wrote none")
    try:
        return seat, lessons.parse(seat.workshop.lesson)
    except lessons.LessonError as e:
        raise NoLesson(f"this workshop's lesson cannot be shown: {e}") from e


def step_of(lesson: lessons.Lesson, index: int) -> lessons.Step:
    """Return the lesson's step with a check, or raise NoSuchStep or NoCheck."""
    if not 0 <= index < len(lesson.steps):
        raise NoSuchStep(f"this lesson has steps 0 to {len(lesson.steps) - 1}, not {index}")
    step = lesson.steps[index]
    if not step.check:
        raise NoCheck(f"the step “{step.title}” has nothing to check")
    return step


def instance_for(session: Session, name: str) -> Instance:
    """Return the session's running instance of that name, or its node1 (else its first) when none is named."""
    live = session.live_instances()
    if name:
        instance = live.filter(name=name).first()
        if instance is None:
            raise BadInput(f"this session has no instance {name}")
    else:
        instance = live.filter(hostname="node1").first() or live.first()
        if instance is None:
            raise NoInstance("this session has no instance to check: add one first")
    if instance.state != Instance.State.RUNNING:
        raise runs.NotRunning(f"{instance.hostname} is still starting; check again once it runs")
    return instance


def run(seat: Seat, index: int, step: lessons.Step, instance: Instance) -> StepCheck:
    """Run the step's check in the instance and record the verdict for the seat; raise CheckRunning, or
    TooManyCommands, if the session already runs a check or its share of commands."""
    with _running.hold(instance.session_id, 1, settings.EXECS_AT_ONCE), runs.command_slot(instance.session_id):
        result = _run(instance, step.check)
    passed = result.ok
    if result.cut_short:
        output = f"The check {result.cut_short} (a check may take {settings.LESSON_CHECK_TIMEOUT:g} s)."
    else:
        output = result.output[-EXCERPT:]
    check, _ = StepCheck.objects.update_or_create(
        seat=seat, step=index, defaults={"passed": passed, "output": output, "checked_at": timezone.now()}
    )
    return check


def _run(instance: Instance, script: str) -> runs.Result:
    try:
        return runs.run(instance, ["sh", "-c", script], settings.LESSON_CHECK_TIMEOUT)
    except EngineTrouble as e:
        # The learner may have stopped or broken the instance under the check: theirs to fix, not a 5xx.
        raise CheckNotRun(f"the check could not run in {instance.hostname}: is it still running? ({e})") from e
