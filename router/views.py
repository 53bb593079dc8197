"""Connect from your laptop: how to reach an instance's engine, and the client bundle that opens it."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET

from router.credentials import Connection, bundle_zip
from sessions.activity import record_activity
from sessions.api import get_instance, get_live_session, json_api
from sessions.models import ClientBundle, Instance


def _bundle(instance: Instance) -> ClientBundle:
    bundle = None if instance.tls_server_cert else ClientBundle.objects.filter(instance=instance).first()
    if bundle is None:
        # docker-machine brought its own CA and client certificate: those are what the learner uses.
        raise Http404(f"{instance.hostname} uses docker-machine's certificates; run `docker-machine env` instead")
    return bundle


@json_api
@require_GET
def docker_connection(request: HttpRequest, session_id: str, name: str) -> HttpResponse:
    """Answer the lines that point a docker CLI at the instance (never any key)."""
    session = get_live_session(session_id)
    record_activity(session.id)
    instance = get_instance(session, name)
    _bundle(instance)
    return JsonResponse(Connection.of(instance).to_json())


@json_api
@require_GET
def docker_bundle(request: HttpRequest, session_id: str, name: str) -> HttpResponse:
    """Download the CA, client certificate and client key for the instance's engine."""
    session = get_live_session(session_id)
    record_activity(session.id)
    instance = get_instance(session, name)
    connection = Connection.of(instance)
    response = HttpResponse(bundle_zip(_bundle(instance), connection), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{connection.context}.zip"'
    response["Cache-Control"] = "no-store"
    return response
