"""docker-machine's TLS fields that are not base64 of a PEM document are a 400, whatever characters they hold."""

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from sessions.lifecycle import BadInput
from sessions.models import Playground, Session
from sessions.parsing import instance_request


@pytest.mark.parametrize("value", ["\u0002\uda66\ude2dìC", "é" * 8, "QUJD\u00a0", "not base64!", "QUJD"])
def test_it_refuses_a_field_that_is_not_base64_of_pem(value: str) -> None:
    with pytest.raises(BadInput, match="(?i)CACert must be base64 of a PEM document"):
        instance_request(json.dumps({"CACert": value}).encode())


def test_it_answers_non_ascii_base64_with_400(client: Client, playground: Playground) -> None:
    session = Session.objects.create(playground=playground, expires_at=timezone.now() + timedelta(hours=1))
    body = '{"CACert": "\\u0002\\uda66\\ude2d\\u00ecC"}'
    response = client.post(f"/sessions/{session.id}/instances", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["message"].lower() == "cacert must be base64 of a pem document"
