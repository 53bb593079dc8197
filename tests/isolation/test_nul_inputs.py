"""A NUL character in a visitor's input answers 400, never a 500.

PostgreSQL's text cannot hold NUL: psycopg raises DataError for any query comparing with it, so on the compose
deployment's database /w/%00, /sessions/%00 and a JSON name with \\u0000 were 500s (SQLite just found nothing).
"""

from __future__ import annotations

import pytest
from django.test import Client

from sessions import parsing
from sessions.models import Playground


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/w/%00"),
        ("post", "/w/AB%00CDEFG"),
        ("get", "/sessions/%00"),
        ("post", "/sessions/%00/close"),
        ("get", "/sessions/x%00y/instances/node1/fstree"),
        ("get", "/p/%00"),
        ("post", "/w/lesson/%00/steps/0/check"),
        ("get", "/?stack_name=%00"),
    ],
)
def test_a_nul_in_the_path_or_query_is_a_400(client: Client, playground: Playground, method: str, path: str) -> None:
    response = getattr(client, method)(path)
    assert response.status_code == 400, response.content[:300]
    assert response.json()["error"] == "bad_request"


@pytest.mark.parametrize(
    "body",
    [
        b'{"ImageName": "\\u0000"}',
        b'{"hostname": "node\\u0000"}',
        b'{"Envs": ["A=\\u0000"]}',
        b'{"x\\u0000": 1}',
        b'{"command": [["nested", ["\\u0000"]]]}',
    ],
)
def test_a_nul_in_a_json_body_is_refused(body: bytes) -> None:
    with pytest.raises(parsing.BadInput, match="NUL"):
        parsing.json_body(body)


def test_a_backslash_u_spelled_out_is_no_nul() -> None:
    assert parsing.json_body(b'{"command": ["printf", "\\\\u0000"]}') == {"command": ["printf", "\\u0000"]}


def test_a_nul_in_a_stack_name_is_refused() -> None:
    with pytest.raises(parsing.BadInput, match="NUL"):
        parsing.stack_fields("", "web\x00")
