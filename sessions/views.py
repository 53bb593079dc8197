"""HTML pages: the landing page with its Start button, and a session's page."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods

from sessions import lifecycle, parsing, ratelimit, stacks, tasks
from sessions.api import error, get_session
from sessions.models import Playground

View = Callable[..., HttpResponse]


def csrf_unless_xhr(view: View) -> View:
    """Require a CSRF token from forms, but not from XMLHttpRequest clients (PWD's SDK, curl).

    A page on another origin cannot add X-Requested-With without a CORS preflight, and the preflight only
    succeeds for CORS_ALLOWED_ORIGINS, so the header itself proves the caller is allowed.
    """
    protected = csrf_protect(view)

    @csrf_exempt
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.headers.get("X-Requested-With") == "XMLHttpRequest":
            return view(request, *args, **kwargs)
        return protected(request, *args, **kwargs)

    return wrapper


@csrf_unless_xhr
@require_http_methods(["GET", "POST"])
def home(request: HttpRequest) -> HttpResponse:
    playground = Playground.for_host(request.get_host())
    if request.method == "GET":
        return render(request, "home.html", {"playground": playground})
    xhr = request.headers.get("X-Requested-With") == "XMLHttpRequest"
    try:
        address = request.META.get("REMOTE_ADDR", "")
        if not ratelimit.allow("start", address, settings.SESSION_STARTS_PER_MINUTE):
            raise lifecycle.TooManyStarts("too many sessions started from your address; try again in a minute")
        stack = parsing.stack_fields(request.POST.get("stack", ""), request.POST.get("stack_name", ""))
        if stack["stack"]:
            stacks.check(stack["stack"])  # before the session exists: nothing is left half-created
        session = lifecycle.start_session(
            playground,
            client_address=address or None,
            duration=parsing.parse_duration(request.POST.get("session-duration", "")),
            image=request.POST.get("image_name", "").strip(),
            **stack,
        )
        if session.stack:
            session.claim_stack(stacks.project_name(session.stack_name))  # checked above, and the session is new
            transaction.on_commit(lambda: tasks.deploy_stack.delay(session.id))
    except lifecycle.SandboxError as e:
        if xhr:
            return error(e.status, e.code, str(e))
        return render(request, "home.html", {"playground": playground, "error": str(e)}, status=e.status)
    if xhr:
        # The host[:port] this request reached: PWD's SDK sends every later call, and its WebSocket, there.
        return JsonResponse({"session_id": session.id, "hostname": request.get_host()})
    return redirect("session-page", session_id=session.id)


@require_GET
def session_page(request: HttpRequest, session_id: str) -> HttpResponse:
    session = get_session(session_id)
    context = {"session": session, "instances": session.live_instances(), "ssh_port": settings.SSH_GATEWAY_PORT}
    return render(request, "session.html", context)
