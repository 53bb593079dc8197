"""Register the public keys that open PWD's legacy ssh user names of a session."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_http_methods

from gateway.keys import BadKey, parse_public_key
from gateway.models import AuthorizedKey
from sessions import parsing
from sessions.activity import record_activity
from sessions.api import get_live_session, json_api
from sessions.lifecycle import BadInput


@json_api
@require_http_methods(["GET", "POST"])
def ssh_keys(request: HttpRequest, session_id: str) -> HttpResponse:
    session = get_live_session(session_id)
    record_activity(session.id)
    if request.method == "POST":
        text = parsing.json_body(request.body).get("key")
        if not isinstance(text, str):
            raise BadInput('send {"key": "<the contents of your .pub file>"}')
        try:
            key = AuthorizedKey.register(session, parse_public_key(text))
        except BadKey as e:
            raise BadInput(str(e)) from e
        return JsonResponse(key.to_json(), status=201)
    keys = session.ssh_keys.order_by("created_at", "id")
    return JsonResponse({"keys": [key.to_json() for key in keys]})


@json_api
@require_http_methods(["DELETE"])
def ssh_key_delete(request: HttpRequest, session_id: str, key_id: int) -> HttpResponse:
    session = get_live_session(session_id)
    record_activity(session.id)
    key = session.ssh_keys.filter(pk=key_id).first()
    if key is None:
        raise Http404(f"no key {key_id} in this session")
    key.delete()
    return JsonResponse({"deleted": key_id})
