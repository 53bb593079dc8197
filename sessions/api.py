"""PWD's JSON API: sessions and their instances, the playground, health."""

from __future__ import annotations

import base64
from collections.abc import Callable
from functools import wraps
from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from engine import names
from sessions import capacity, engines, instancefiles, lifecycle, parsing, recordings, runs, setup, stacks, tasks
from sessions.activity import record_activity
from sessions.models import Instance, Playground, Session
from sessions.openapi import OPENAPI

View = Callable[..., HttpResponse]


def error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": code, "message": message}, status=status)


def json_api(view: View) -> View:
    """Answer domain refusals as JSON errors with their status; the session id in the URL is the credential."""

    @csrf_exempt
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except lifecycle.SandboxError as e:
            return error(e.status, e.code, str(e))
        except Http404 as e:
            return error(404, "not_found", str(e))

    return wrapper


def get_session(session_id: str) -> Session:
    session = Session.objects.select_related("playground").filter(pk=session_id).first()
    if session is None:
        raise Http404(f"no session {session_id}")
    return session


def get_live_session(session_id: str) -> Session:
    """Return the live session, or raise SessionEnded."""
    session = get_session(session_id)
    if not session.is_live:
        raise lifecycle.SessionEnded("this session has ended")
    return session


def get_instance(session: Session, name: str) -> Instance:
    instance = session.live_instances().filter(name=name).first()
    if instance is None:
        raise Http404(f"no instance {name} in this session")
    return instance


@json_api
@require_http_methods(["GET", "DELETE"])
def session_detail(request: HttpRequest, session_id: str) -> HttpResponse:
    session = get_session(session_id)
    if request.method == "DELETE":
        lifecycle.end_session(session, reason="deleted")
    return JsonResponse(session.to_json())


@json_api
@require_POST
def session_close(request: HttpRequest, session_id: str) -> HttpResponse:
    session = get_session(session_id)
    lifecycle.end_session(session, reason="closed")
    return JsonResponse(session.to_json())


@json_api
@require_POST
def session_extend(request: HttpRequest, session_id: str) -> HttpResponse:
    session = get_live_session(session_id)
    record_activity(session.id)
    lifecycle.extend_session(session)
    return JsonResponse(session.to_json())


@json_api
@require_POST
def instance_create(request: HttpRequest, session_id: str) -> HttpResponse:
    session = get_live_session(session_id)
    record_activity(session.id)
    spec = parsing.instance_request(request.body)
    # PWD's docker-machine driver and SDK accept exactly 200 here.
    return JsonResponse(lifecycle.add_instance(session, spec).to_json())


@json_api
@require_POST
def session_setup(request: HttpRequest, session_id: str) -> HttpResponse:
    session = get_live_session(session_id)
    record_activity(session.id)
    nodes = parsing.setup_request(request.body)
    try:
        return JsonResponse({"instances": setup.setup_session(session, nodes)})
    except setup.SetupFailed as e:
        return JsonResponse({"error": e.code, "message": str(e), "instances": e.instances}, status=e.status)


@json_api
@require_POST
def instance_exec(request: HttpRequest, session_id: str, name: str) -> HttpResponse:
    session = get_live_session(session_id)
    record_activity(session.id)
    instance = get_instance(session, name)
    command = parsing.exec_command(request.body)
    return JsonResponse({"status_code": runs.exec_status(instance, command, settings.EXEC_TIMEOUT)})


@json_api
@require_http_methods(["DELETE"])
def instance_delete(request: HttpRequest, session_id: str, name: str) -> HttpResponse:
    session = get_live_session(session_id)
    record_activity(session.id)
    instance = get_instance(session, name)
    lifecycle.delete_instance(instance)
    return JsonResponse(instance.to_json())


@json_api
@require_POST
def stack_deploy(request: HttpRequest, session_id: str) -> HttpResponse:
    """Deploy a compose file into the session: uploaded (multipart `file`, form `compose`, a raw body) or `url`."""
    session = get_live_session(session_id)
    record_activity(session.id)
    form = (request.content_type or "").startswith(("multipart/", "application/x-www-form-urlencoded"))
    try:
        params = request.POST if form else request.GET
    except MultiPartParserError as e:
        raise lifecycle.BadInput(f"the multipart body is malformed: {e}") from e
    fields = parsing.stack_fields(params.get("url", ""), params.get("stack_name", ""))
    compose = None if fields["stack"] else parsing.stack_file(_stack_upload(request, form), settings.STACK_MAX_BYTES)
    stacks.queue(session, fields["stack_name"], fields["stack"])
    tasks.start_stack_deploy(session, compose)
    return JsonResponse({"stack_name": session.stack_name, "stack_state": session.stack_state}, status=202)


def _stack_upload(request: HttpRequest, form: bool) -> bytes:
    """Return the uploaded compose file: a multipart `file`, a form's `compose` field, else the raw body."""
    upload = request.FILES.get("file")
    if upload is not None:
        return upload.read(settings.STACK_MAX_BYTES + 1)
    return request.POST.get("compose", "").encode() if form else request.body


@json_api
@require_GET
def instance_fstree(request: HttpRequest, session_id: str, name: str) -> HttpResponse:
    """List a folder of the instance (`path`, by default /root) as `tree -J` does, bounded in depth and size."""
    session = get_live_session(session_id)
    record_activity(session.id)
    instance = get_instance(session, name)
    with runs.command_slot(session.id):
        root = instancefiles.resolve(session.daemon, instance.name, request.GET.get("path", "/root"))
        listing = instancefiles.tree(
            session.daemon, instance.name, root, settings.FSTREE_DEPTH, settings.FSTREE_ENTRIES
        )
    return JsonResponse(listing, safe=False)


@json_api
@require_http_methods(["GET", "PUT"])
def instance_file(request: HttpRequest, session_id: str, name: str) -> HttpResponse:
    """GET a text file as base64 (as PWD served it); PUT the body as the file's new contents."""
    session = get_live_session(session_id)
    record_activity(session.id)
    instance = get_instance(session, name)
    if not request.GET.get("path"):
        raise lifecycle.BadInput("path= names the file")
    limit = settings.EDITOR_MAX_BYTES
    if request.method == "PUT" and len(request.body) > limit:
        raise instancefiles.FileTooLarge(f"the editor saves files of at most {limit} bytes")
    with runs.command_slot(session.id):
        path = instancefiles.resolve(session.daemon, instance.name, request.GET["path"])
        if request.method == "GET":
            data = instancefiles.read_text(session.daemon, instance.name, path, limit)
            return HttpResponse(base64.b64encode(data), content_type="text/plain")
        async_to_sync(instancefiles.write_bytes)(session.daemon, instance.name, path, request.body)
    return JsonResponse({"path": path, "bytes": len(request.body)})


@json_api
@require_GET
def instance_recording(request: HttpRequest, session_id: str, name: str) -> HttpResponse:
    """Download the instance's terminal recording (asciicast v2), deleted instances' too, until the session ends."""
    session = get_session(session_id)
    instance = session.instances.filter(name=name).first()
    found = instance and recordings.find(session.id, instance.name)
    if not instance or not found:
        raise Http404(f"no recording of instance {name} in this session")
    # Read whole (it is at most RECORDING_MAX_BYTES and an event) and cut after the last whole line: the terminal's
    # hub may be appending to it right now.
    data = found.read_bytes()
    response = HttpResponse(data[: data.rfind(b"\n") + 1], content_type="application/x-asciicast")
    filename = f"{instance.hostname}-{names.short(session.id)}.cast"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@require_GET
def images(request: HttpRequest) -> HttpResponse:
    return JsonResponse(Playground.for_host(request.get_host()).images, safe=False)


@require_GET
def my_playground(request: HttpRequest) -> HttpResponse:
    return JsonResponse(Playground.for_host(request.get_host()).to_json())


@require_GET
def ping(request: HttpRequest) -> HttpResponse:
    """Tell a load balancer whether to send learners here, and how each engine is: 503 when no engine that takes
    sessions answers, 507 full."""
    # Engines by name: /ping is open to anyone, and their addresses are the operator's (`manage.py engines list`).
    pool = engines.all_engines()
    up = engines.answering(pool)
    states = {e.name: "ok" if up[e.url] else "unreachable" for e in pool}
    taking = [e for e in pool if e.enabled and not e.draining]
    if not any(up[e.url] for e in taking):
        down = [e.name for e in pool if not up[e.url]] or [e.name for e in pool]
        message = f"the sandbox engine {', '.join(down)} does not answer within {settings.PING_TIMEOUT} s"
        if not taking:
            message = "no sandbox engine takes new sessions: every one is draining or disabled"
        return JsonResponse({"error": "engine_unreachable", "message": message, "engines": states}, status=503)
    live = capacity.in_use(Instance.objects.live().on_this_host().count())
    limit = capacity.instance_limit()
    if live >= limit:
        return error(507, "out_of_capacity", f"{live} of {limit} instances in use")
    return JsonResponse({"status": "ok", "instances": live, "capacity": limit, "engines": states})


@require_GET
def openapi(request: HttpRequest) -> HttpResponse:
    return JsonResponse(OPENAPI)
