"""Pages: trainers create and run workshops (/workshops/…); learners join one with its code (/w/…) and check
their lesson's steps."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

import metrics
from accounts.trainers import is_trainer
from sessions import clients, lifecycle
from sessions.activity import record_activity
from sessions.api import get_live_session, json_api
from sessions.models import Playground
from workshops import checks, dashboard, joining
from workshops.forms import JoinForm, WorkshopForm
from workshops.models import CODE_ALPHABET, CODE_LENGTH, Seat, Workshop

View = Callable[..., HttpResponse]


def trainer_required(view: View) -> View:
    """Let logged-in trainers through; anyone else logged in gets a clear 403."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not is_trainer(request.user):
            return render(request, "workshops/refused.html", {"message": "Only trainers run workshops."}, status=403)
        return view(request, *args, **kwargs)

    return wrapper


def _get_workshop_for_trainer(request: HttpRequest, workshop_id: int) -> Workshop:
    """Return the trainer's own workshop (any, for staff), or raise 404."""
    found = Workshop.objects.select_related("playground")
    if not request.user.is_staff:
        found = found.filter(trainer_id=request.user.pk)
    return get_object_or_404(found, pk=workshop_id)


@trainer_required
@require_http_methods(["GET", "POST"])
def workshop_list(request: HttpRequest) -> HttpResponse:
    playground = Playground.for_host(request.get_host())
    form = WorkshopForm(request.POST or None, playground=playground)
    if request.method == "POST" and form.is_valid():
        form.instance.trainer = request.user
        workshop = form.save()
        return redirect("workshop-page", workshop_id=workshop.pk)
    mine = Workshop.objects.all() if request.user.is_staff else Workshop.objects.filter(trainer_id=request.user.pk)
    status = 400 if form.errors else 200
    return render(request, "workshops/list.html", {"workshops": mine, "form": form}, status=status)


@trainer_required
@require_GET
def workshop_page(request: HttpRequest, workshop_id: int) -> HttpResponse:
    workshop = _get_workshop_for_trainer(request, workshop_id)
    join_url = request.build_absolute_uri(f"/w/{workshop.code}")
    context = {"workshop": workshop, "join_url": join_url, "snapshot": dashboard.snapshot(workshop)}
    return render(request, "workshops/workshop.html", context)


@trainer_required
@require_POST
def workshop_action(request: HttpRequest, workshop_id: int, action: str) -> HttpResponse:
    """Extend or end one seat's session (`seat` in the form) or all; broadcast a message; delete the workshop."""
    workshop = _get_workshop_for_trainer(request, workshop_id)
    seat = _seat_id(request)
    if seat == NO_SUCH_SEAT:
        return _refused(request, workshop, "No such seat.", 400)
    if action == "extend":
        refusals = dashboard.extend(workshop, seat)
        if refusals:
            return _refused(request, workshop, "; ".join(sorted(set(refusals))), 409)
    elif action == "end":
        dashboard.end(workshop, seat)
    elif action == "broadcast":
        text = request.POST.get("message", "").strip()
        if not text:
            return _refused(request, workshop, "Type a message to broadcast.", 400)
        dashboard.broadcast(workshop, text)
    elif action == "delete":
        workshop.delete()
        return redirect("workshop-list")
    else:
        raise Http404("no such action")
    return redirect("workshop-page", workshop_id=workshop.pk)


NO_SUCH_SEAT = -1
_SEAT = re.compile(r"[0-9]{1,18}")


def _seat_id(request: HttpRequest) -> int | None:
    """Return the seat an action is for: None (all) when the form names none, NO_SUCH_SEAT for anything else.

    A mangled seat must never widen a one-seat "end" to the whole room; str.isdigit() also passed "²" to int().
    """
    seat = request.POST.get("seat", "")
    if not seat:
        return None
    return int(seat) if _SEAT.fullmatch(seat) else NO_SUCH_SEAT


def _refused(request: HttpRequest, workshop: Workshop, message: str, status: int) -> HttpResponse:
    context = {"message": message, "workshop": workshop}
    return render(request, "workshops/refused.html", context, status=status)


@trainer_required
@require_GET
def attendance(request: HttpRequest, workshop_id: int) -> HttpResponse:
    workshop = _get_workshop_for_trainer(request, workshop_id)
    response = HttpResponse(dashboard.attendance_csv(workshop), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="attendance-{workshop.code}.csv"'
    return response


@require_http_methods(["GET", "POST"])
def join_code(request: HttpRequest) -> HttpResponse:
    """/w/: a form to type a join code."""
    code = request.POST.get("code", "").strip().upper() if request.method == "POST" else ""
    if not code:
        return render(request, "workshops/code.html")
    if not (len(code) == CODE_LENGTH and set(code) <= set(CODE_ALPHABET)):
        # Never into the URL: a "/" in it reversed to no route (a 500).
        error = f"A join code is {CODE_LENGTH} letters and digits, like the one your trainer shows."
        return render(request, "workshops/code.html", {"error": error}, status=400)
    return redirect("workshop-join", code=code)


@require_http_methods(["GET", "POST"])
def join(request: HttpRequest, code: str) -> HttpResponse:
    """/w/<code>: a display name becomes a seat and a session; the same browser comes back to its seat."""
    workshop = Workshop.objects.select_related("playground").filter(code=code.upper()).first()
    if workshop is None:
        return render(request, "workshops/code.html", {"error": f"No workshop has the code {code}."}, status=404)
    # The form already hands the browser its seat's token: two joins sent at once from it take one seat.
    token = joining.token_from(request.COOKIES.get(_cookie(workshop), ""))
    seat = joining.seat_of(workshop, token)
    if seat is not None:
        type(seat).objects.filter(pk=seat.pk).update(last_seen_at=timezone.now())
        return _to_seat(request, workshop, seat)
    form = JoinForm(request.POST or None)
    context: dict[str, Any] = {"workshop": workshop, "form": form}
    if request.method == "POST" and form.is_valid():
        try:
            address = clients.limit_key(clients.client_address(request))
            seat = joining.join(workshop, form.cleaned_data["name"], token, address)
        except lifecycle.SandboxError as e:
            metrics.STARTS_REFUSED.labels(reason=e.code).inc()
            return render(request, "workshops/join.html", {**context, "error": str(e)}, status=e.status)
        return _remember(_to_seat(request, workshop, seat), workshop, seat.token)
    error = _closed(workshop)
    response = render(request, "workshops/join.html", {**context, "error": error}, status=400 if form.errors else 200)
    return _remember(response, workshop, token)


def _to_seat(request: HttpRequest, workshop: Workshop, seat: Seat) -> HttpResponse:
    """Send the learner to their session, or, while the browser's other join still sets it up, ask them to wait."""
    if seat.session is None:
        return render(request, "workshops/setting_up.html", {"workshop": workshop}, status=202)
    return redirect("session-page", session_id=seat.session.id)


def _remember(response: HttpResponse, workshop: Workshop, token: str) -> HttpResponse:
    response.set_cookie(
        _cookie(workshop),
        token,
        max_age=max(0, int((workshop.ends_at - timezone.now()).total_seconds())) + 86400,
        httponly=True,
        samesite="Lax",
        secure=settings.SESSION_COOKIE_SECURE,
    )
    return response


def _cookie(workshop: Workshop) -> str:
    return f"seat-{workshop.code}"


def _closed(workshop: Workshop) -> str:
    """Say up front, on the join form, why joining would be refused; the join itself checks again."""
    now = timezone.now()
    if not workshop.has_started(now):
        return f"This workshop starts at {workshop.starts_at:%Y-%m-%d %H:%M} UTC."
    if workshop.has_ended(now):
        return "This workshop has ended."
    return ""


@json_api
@require_POST
def step_check(request: HttpRequest, session_id: str, step: str) -> HttpResponse:
    """Run a lesson step's check in the learner's instance (`instance` in a JSON body, else node1); the session id
    in the URL is the credential, as for every session route."""
    session = get_live_session(session_id)
    seat, lesson = checks.lesson_of(session)
    index = _step_index(step)
    found = checks.step_of(lesson, index)
    instance = checks.instance_for(session, _instance_name(request.body))
    record_activity(session.id)
    result = checks.run(seat, index, found, instance)
    dashboard.changed(seat.workshop_id)
    return JsonResponse({"step": index, "passed": result.passed, "output": result.output, "instance": instance.name})


_STEP = re.compile(r"[0-9]{1,9}")


def _step_index(step: str) -> int:
    """Return the step a URL names, or raise NoSuchStep: "-1", "x", "²" or a 5000-digit number answer a JSON 404
    the page can show, as a step past the lesson's end does, rather than the router's HTML page."""
    if not _STEP.fullmatch(step):
        raise checks.NoSuchStep(f"no step {step[:20]!r}: a step is its number, from 0")
    return int(step)


def _instance_name(body: bytes) -> str:
    """Return the instance a check's body names, "" for none; raise BadInput for a body that is not that."""
    if not body.strip():
        return ""
    try:
        name = json.loads(body).get("instance", "")
    except (ValueError, AttributeError, RecursionError) as e:
        raise lifecycle.BadInput('the body is {"instance": "<name>"} or empty') from e
    if not isinstance(name, str):
        raise lifecycle.BadInput("instance is the name of one of this session's instances")
    return name
