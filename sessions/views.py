"""HTML pages: the landing page with its Start button, and a session's page."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods

import metrics
from sessions import clients, lifecycle, parsing, ratelimit, recordings, stacks, tasks
from sessions.api import error, get_instance, get_session
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
    login_required = settings.LOGIN_REQUIRED_TO_START
    if request.method == "GET":
        return render(request, "home.html", {"playground": playground, "login_required": login_required})
    xhr = request.headers.get("X-Requested-With") == "XMLHttpRequest"
    try:
        if login_required and not request.user.is_authenticated:
            # PWD's SDK answers the 403 by opening /oauth/providers/<provider>/login in a popup, then tries again.
            raise lifecycle.LoginRequired("log in to start a session")
        # Start limits and SESSIONS_PER_CLIENT count an IPv6 client by its /64: it could rotate through it otherwise.
        address = clients.limit_key(clients.client_address(request))
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
            # The Start button's learner gets node1 booted ahead. API clients (PWD's SDK, docker-machine, /setup)
            # create their own instances, and a node1 they did not ask for would collide with theirs.
            warm=not xhr,
            **stack,
        )
        if session.stack:
            session.claim_stack(stacks.project_name(session.stack_name))  # checked above, and the session is new
            # The session stays if the queue is down: its page shows the deploy failed, and why.
            with contextlib.suppress(stacks.QueueUnavailable):
                tasks.start_stack_deploy(session)
    except lifecycle.SandboxError as e:
        metrics.STARTS_REFUSED.labels(reason=e.code).inc()
        if xhr:
            return error(e.status, e.code, str(e))
        if isinstance(e, lifecycle.LoginRequired):
            return redirect_to_login(_landing(request))
        context = {"playground": playground, "login_required": login_required, "error": str(e)}
        return render(request, "home.html", context, status=e.status)
    if xhr:
        # The host[:port] this request reached: PWD's SDK sends every later call, and its WebSocket, there.
        return JsonResponse({"session_id": session.id, "hostname": request.get_host()})
    return redirect("session-page", session_id=session.id)


def _landing(request: HttpRequest) -> str:
    """Return the landing page as this form left it, so a visitor sent to log in comes back to the same stack."""
    fields = {name: request.POST.get(name, "") for name in ("stack", "stack_name")}
    query = urlencode({name: value for name, value in fields.items() if value})
    return f"/?{query}" if query else "/"


@require_GET
def session_page(request: HttpRequest, session_id: str) -> HttpResponse:
    session = get_session(session_id)
    context = {
        "session": session,
        "instances": session.live_instances(),
        "ssh_port": settings.SSH_GATEWAY_PORT,
        "recording": settings.TERMINAL_RECORDING,
        "readonly": request.GET.get("readonly") == "1",
    }
    return render(request, "session.html", context)


@require_GET
def editor_page(request: HttpRequest, session_id: str, name: str) -> HttpResponse:
    """PWD's editor page for one instance: the session page's editor panel, alone."""
    session = get_session(session_id)
    if not session.is_live:
        return redirect("session-page", session_id=session.id)  # which says the session has ended
    return render(request, "editor.html", {"session": session, "instance": get_instance(session, name)})


@require_GET
def replay_page(request: HttpRequest, session_id: str, name: str) -> HttpResponse:
    """Play an instance's terminal recording back in the browser (static/js/replay.js)."""
    session = get_session(session_id)
    instance = session.instances.filter(name=name).first()
    if instance is None:
        raise Http404(f"no instance {name} in this session")
    recorded = recordings.find(session.id, instance.name) is not None
    context = {"session": session, "instance": instance, "recorded": recorded}
    return render(request, "replay.html", context, status=200 if recorded else 404)
